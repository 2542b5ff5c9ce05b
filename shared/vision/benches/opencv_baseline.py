"""OpenCV baseline for the analysis benchmark: the classic quick quality check.

imdecode at full size, grayscale, variance of the Laplacian, Haar frontal face
detection. Usage: opencv_baseline.py PHOTO [RUNS]. Needs opencv-python-headless
and numpy. Prints medians in milliseconds.
"""

import statistics
import sys
import time

import cv2
import numpy as np


def main() -> None:
    path = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 15
    data = np.fromfile(path, dtype=np.uint8)
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    if cascade.empty():
        sys.exit("Haar cascade missing from the opencv package")

    def decode():
        return cv2.imdecode(data, cv2.IMREAD_COLOR)

    def analyse():
        image = decode()
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        sharpness = cv2.Laplacian(gray, cv2.CV_64F).var()
        # Haar on full 12 MP is slow beyond reason; detect at 800 px like likeness does.
        scale = 800.0 / max(gray.shape)
        small = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        faces = cascade.detectMultiScale(small, scaleFactor=1.1, minNeighbors=5, minSize=(40, 40))
        return sharpness, len(faces)

    def median_ms(fn):
        fn()
        samples = []
        for _ in range(runs):
            start = time.perf_counter()
            fn()
            samples.append((time.perf_counter() - start) * 1000.0)
        return statistics.median(samples)

    sharpness, faces = analyse()
    decode_ms = median_ms(decode)
    total_ms = median_ms(analyse)
    print(f"  OpenCV {cv2.__version__}, threads {cv2.getNumThreads()}: faces {faces}, laplacian var {sharpness:.1f}")
    print(f"  OpenCV imdecode full size:                      {decode_ms:8.1f} ms")
    print(f"  OpenCV imdecode + Laplacian + Haar (800 px):    {total_ms:8.1f} ms")
    print(f"opencv_decode_median_ms {decode_ms:.3f}")
    print(f"opencv_total_median_ms {total_ms:.3f}")


if __name__ == "__main__":
    main()
