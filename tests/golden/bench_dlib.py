#!/usr/bin/env python3
"""dlib's own timing for the identity benchmark (the baseline of
`cargo bench -p likeness-identity`): model load, and per face the 5-point
landmarks plus compute_face_descriptor (chip extraction + forward pass), on
the golden face boxes, single-threaded. Prints one JSON object.

Usage: python bench_dlib.py ITERATIONS PHOTO...   (run from the repository root)
"""

import json
import os
import statistics
import sys
import time

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

import dlib  # noqa: E402
import face_recognition  # noqa: E402
import face_recognition_models  # noqa: E402


def main():
    iterations = int(sys.argv[1])
    names = sys.argv[2:]
    golden = json.load(open(os.path.join("tests", "golden", "golden.json")))
    boxes = {p["file"]: [f["rect"] for f in p["faces"]] for p in golden["photos"]}
    models = os.path.dirname(face_recognition_models.pose_predictor_five_point_model_location())
    sp_path = os.path.join(models, "shape_predictor_5_face_landmarks.dat")
    net_path = os.path.join(models, "dlib_face_recognition_resnet_model_v1.dat")

    loads = []
    for _ in range(3):
        t = time.perf_counter()
        predictor = dlib.shape_predictor(sp_path)
        encoder = dlib.face_recognition_model_v1(net_path)
        loads.append(time.perf_counter() - t)

    per_face = []
    for name in names:
        image = face_recognition.load_image_file(os.path.join("tests", "fixtures", "photos", name))
        for r in boxes[name]:
            rect = dlib.rectangle(r["x"], r["y"], r["x"] + r["width"] - 1, r["y"] + r["height"] - 1)
            encoder.compute_face_descriptor(image, predictor(image, rect), 0, 0.25)  # warm-up
            for _ in range(iterations):
                t = time.perf_counter()
                shape = predictor(image, rect)
                encoder.compute_face_descriptor(image, shape, 0, 0.25)
                per_face.append(time.perf_counter() - t)

    json.dump(
        {
            "dlib_version": dlib.__version__,
            "load_ms_median": statistics.median(loads) * 1e3,
            "face_ms_median": statistics.median(per_face) * 1e3,
            "samples": len(per_face),
        },
        sys.stdout,
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
