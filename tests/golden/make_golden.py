#!/usr/bin/env python3
"""Reference landmarks and descriptors for the fixture photos, computed by dlib.

The Rust identity crate is checked against this file: same face boxes in,
landmarks within 1 px and descriptors within 1e-3 out. Face boxes come from
dlib's HOG detector here and are stored in the JSON, so the Rust side never
depends on a detector to reproduce them.

Setup (outside the repository):
    python3 -m venv /tmp/golden-venv
    /tmp/golden-venv/bin/pip install --no-deps face_recognition==1.3.0 dlib-bin numpy pillow
    /tmp/golden-venv/bin/pip install --no-deps face-recognition-models==0.3.0
Run from the repository root:
    cargo run -p likeness-identity --example decode_fixtures /tmp/likeness-decoded
    GOLDEN_DECODED_DIR=/tmp/likeness-decoded \
        /tmp/golden-venv/bin/python tests/golden/make_golden.py > tests/golden/golden.json

The pixels dlib sees are the ones the Rust `image` crate decodes (written as
PNG by the example above): JPEG decoders differ slightly (zune-jpeg vs
libjpeg-turbo), and this comparison is about landmarks, chips and the network,
not decoders.
"""

import json
import os
import sys

import dlib
import face_recognition
import face_recognition_models
import numpy as np

PHOTOS = [
    "obama.jpg",
    "obama2.jpg",
    "obama3.jpg",
    "32bit.png",
    "biden.jpg",
    "astronaut.png",
    "obama_partial_face.jpg",
    "camera.png",
    "chelsea.png",
    "coffee.png",
]
PHOTO_DIR = os.path.join("tests", "fixtures", "photos")


def main():
    models = os.path.dirname(face_recognition_models.pose_predictor_five_point_model_location())
    predictor = dlib.shape_predictor(os.path.join(models, "shape_predictor_5_face_landmarks.dat"))
    encoder = dlib.face_recognition_model_v1(
        os.path.join(models, "dlib_face_recognition_resnet_model_v1.dat")
    )
    detector = dlib.get_frontal_face_detector()
    chips_dir = os.environ.get("GOLDEN_CHIPS_DIR")
    decoded = os.environ["GOLDEN_DECODED_DIR"]

    photos = []
    for name in PHOTOS:
        # face_recognition's own loader (PIL, 8-bit RGB, alpha dropped) on the
        # pixels the Rust side decoded.
        image = face_recognition.load_image_file(os.path.join(decoded, name + ".png"))
        faces = []
        for i, det in enumerate(detector(image, 1)):
            shape = predictor(image, det)
            descriptor = np.array(encoder.compute_face_descriptor(image, shape, 0, 0.25))
            if chips_dir:
                chip = dlib.get_face_chip(image, shape, 150, 0.25)
                from PIL import Image

                Image.fromarray(chip).save(os.path.join(chips_dir, f"{name}.{i}.png"))
            faces.append(
                {
                    # dlib rectangles are inclusive; Rect is x, y, width, height.
                    "rect": {
                        "x": det.left(),
                        "y": det.top(),
                        "width": det.right() - det.left() + 1,
                        "height": det.bottom() - det.top() + 1,
                    },
                    "landmarks": [[p.x, p.y] for p in shape.parts()],
                    "descriptor": [round(float(v), 7) for v in descriptor],
                }
            )
        h, w = image.shape[:2]
        photos.append({"file": name, "width": w, "height": h, "faces": faces})

    json.dump(
        {
            "generator": "tests/golden/make_golden.py",
            "dlib_version": dlib.__version__,
            "face_recognition_version": face_recognition.__version__,
            "pixels": "decoded by the Rust image crate (examples/decode_fixtures.rs)",
            "padding": 0.25,
            "chip_size": 150,
            "photos": photos,
        },
        sys.stdout,
        indent=1,
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
