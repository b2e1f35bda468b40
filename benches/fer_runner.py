#!/usr/bin/env python3
"""Runs the Python `fer` package (PyPI) over every frame of one video and prints JSON.

Used by benches/compare.py inside the venv it creates (`.bench-venv/`, or
`.bench-venv-mtcnn/` for `--mtcnn`); not meant to be run with the system Python.

Headless workarounds (fer 25.10.3):
- `from fer.fer import FER`: the package's `__init__` does not export `FER`.
- `fer.classes.Video.analyze` calls `cv2.imshow`/`cv2.waitKey` and writes files, so it is not
  used: frames are read with `cv2.VideoCapture` and each one goes through
  `FER.detect_emotions`, which is what `Video.analyze` does per frame (every frame, every face).
- The venv has `opencv-python-headless` instead of fer's declared `opencv-contrib-python`
  (which needs X11/GL libraries); fer is installed with `--no-deps` for that reason.

Output (one JSON object on stdout): frames, faces, frames_with_faces, the seconds spent
importing (TensorFlow), building the detector and model, and in the frame loop, plus versions.
"""

import argparse
import json
import os
import sys
import time

T_START = time.perf_counter()

# Quiet TensorFlow's C++ logging and Python warnings (pkg_resources, tf.lite deprecation).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("video", nargs="?", help="video file (omit with --check)")
    ap.add_argument("--mtcnn", action="store_true", help="MTCNN detector (facenet-pytorch) instead of Haar")
    ap.add_argument("--max-frames", type=int, default=0, help="stop after this many frames (0: all)")
    ap.add_argument("--check", action="store_true", help="import fer, build FER(), analyse one blank frame, print versions")
    args = ap.parse_args()

    import warnings

    warnings.filterwarnings("ignore")
    import logging

    t0 = time.perf_counter()
    import cv2
    import numpy as np

    from fer.fer import FER  # headless workaround: `from fer import FER` fails in 25.10.3

    logging.getLogger("fer").setLevel(logging.WARNING)
    import importlib.metadata as md

    import_s = time.perf_counter() - t0

    def version(dist: str):
        try:
            return md.version(dist)
        except md.PackageNotFoundError:
            return None

    versions = {
        "fer": version("fer"),
        "tensorflow": version("tensorflow-cpu") or version("tensorflow"),
        "opencv": cv2.__version__,
        "numpy": np.__version__,
        "python": sys.version.split()[0],
    }
    if args.mtcnn:
        versions["facenet-pytorch"] = version("facenet-pytorch")
        versions["torch"] = version("torch")

    t0 = time.perf_counter()
    detector = FER(mtcnn=args.mtcnn)
    init_s = time.perf_counter() - t0

    if args.check:
        blank = np.full((240, 320, 3), 128, np.uint8)
        detector.detect_emotions(blank)
        print(json.dumps({"ok": True, "versions": versions, "cv2_threads": cv2.getNumThreads()}))
        return 0
    if not args.video:
        ap.error("a video is required")

    cap = cv2.VideoCapture(args.video)
    if not cap.isOpened():
        print(json.dumps({"error": f"cv2.VideoCapture cannot open {args.video}"}))
        return 1
    width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
    height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    frames = faces = with_faces = 0
    t0 = time.perf_counter()
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        result = detector.detect_emotions(frame)
        frames += 1
        faces += len(result)
        with_faces += bool(result)
        if args.max_frames and frames >= args.max_frames:
            break
    loop_s = time.perf_counter() - t0
    cap.release()

    print(
        json.dumps(
            {
                "video": args.video,
                "detector": "mtcnn" if args.mtcnn else "haar",
                "width": width,
                "height": height,
                "frames": frames,
                "faces": faces,
                "frames_with_faces": with_faces,
                "import_s": import_s,
                "init_s": init_s,
                "loop_s": loop_s,
                "process_s": time.perf_counter() - T_START,
                "cv2_threads": cv2.getNumThreads(),
                "versions": versions,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
