"""Predict emotions on photos, folders, videos or a webcam.

    python -m helpers.predict PATH... [--model outputs/models/baseline_cnn.keras] [--out outputs/predictions]
                              [--detector auto|haar|mtcnn] [--align] [--video-every 10] [--smooth 5]
    python -m helpers.predict --camera 0

Every face is detected (MTCNN when the mtcnn package is installed, else OpenCV's Haar cascade), cropped with
a margin and classified. Writes an annotated copy of each image (boxes, label, confidence), an annotated video
for each video (predictions smoothed over the last ``--smooth`` classified frames of each face), and
predictions.csv / predictions.json with one row per face (per frame for videos). A bad item gets one line and
the run goes on; the exit status is 0 only when every item was read and the model loaded.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import cv2
import pandas as pd
from tqdm import tqdm

from helpers import config, faces
from helpers.artifacts import atomic_write_bytes

VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm"}


def expand(paths: list[str]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Files to process (folders expanded, sorted) and (item, problem) for paths that do not exist."""
    files, missing = [], []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.is_file())
        elif p.is_file():
            files.append(p)
        else:
            missing.append((str(p), "no such file or folder"))
    return files, missing


def _open_video(path: Path) -> cv2.VideoCapture:
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise faces.ImageReadError("cannot open video")
    return cap


def _video_frames(cap: cv2.VideoCapture, every: int):
    """(index, RGB frame) of every ``every``-th frame; releases ``cap`` at the end."""
    i = 0
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            if i % every == 0:
                yield i, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            i += 1
    finally:
        cap.release()


class _VideoOut:
    """Annotated frames written to an .mp4 next to the other outputs (atomically: temp file, then rename)."""

    def __init__(self, path: Path, fps: float):
        self.path, self.fps, self.writer = path, fps, None
        self.tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")

    def write(self, rgb) -> None:
        if self.writer is None:
            h, w = rgb.shape[:2]
            self.writer = cv2.VideoWriter(str(self.tmp), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (w, h))
        self.writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))

    def close(self, keep: bool = True) -> None:
        """Finish the file and move it into place; ``keep=False`` (a failed video) deletes it instead."""
        if self.writer is not None:
            self.writer.release()
            if keep:
                self.tmp.replace(self.path)
        self.tmp.unlink(missing_ok=True)


def run(
    paths: list[str],
    model_path: Path,
    out_dir: Path,
    video_every: int = 10,
    camera: int | None = None,
    max_camera_frames: int = 300,
    detector: str | None = None,
    align: bool = False,
    smooth: int = 5,
) -> dict:
    """Process everything; returns the summary (counts of images, faces, failures by reason)."""
    from helpers.inference import EmotionPredictor, ModelLoadError, TrackSmoother, annotate

    summary: Counter = Counter()
    problems: list[tuple[str, str]] = []
    try:
        predictor = EmotionPredictor(model_path, detector=detector, align=align)
    except ModelLoadError as e:
        print(f"error: {e}", file=sys.stderr)
        return {"model_error": str(e), "failed": 1}
    files, missing = expand(paths)
    problems += missing
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []

    def handle(image, name: str, frame: int | None = None, smoother=None):
        res = predictor.predict_image(image)
        preds = smoother.update(res.faces) if smoother is not None else res.faces
        summary["images"] += 1
        summary["faces"] += len(preds)
        if not preds:
            summary["no_face"] += 1
            if frame is None:
                print(f"{name}: no face found", file=sys.stderr)
        rows.extend({**f.as_row(name), "frame": frame} for f in preds)
        return annotate(image, preds)

    def save_jpg(rgb, name: str) -> None:
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        if ok:
            atomic_write_bytes(out_dir / f"{Path(name).stem}_annotated.jpg", buf.tobytes())

    for f in tqdm(files, desc="predicting", unit="file", disable=len(files) < 2):
        try:
            if f.suffix.lower() in VIDEO_SUFFIXES:
                cap = _open_video(f)
                fps = (cap.get(cv2.CAP_PROP_FPS) or 25.0) / video_every
                video = _VideoOut(out_dir / f"{f.stem}_annotated.mp4", fps)
                smoother = TrackSmoother(smooth)
                try:
                    for idx, frame in _video_frames(cap, video_every):
                        video.write(handle(frame, str(f), idx, smoother))
                except BaseException:
                    video.close(keep=False)
                    raise
                video.close()
            else:
                save_jpg(handle(faces.read_photo(f), str(f)), str(f))
        except (faces.ImageReadError, OSError) as e:
            problems.append((str(f), str(e)))
    if camera is not None:
        cap = cv2.VideoCapture(camera)
        if not cap.isOpened():
            problems.append((f"camera {camera}", "cannot open camera"))
        else:
            smoother = TrackSmoother(smooth)
            for i in range(max_camera_frames):
                ok, frame = cap.read()
                if not ok:
                    break
                name = f"camera{camera}_frame{i:06d}.jpg"
                save_jpg(handle(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), name, i, smoother), name)
            cap.release()
    for item, why in problems:
        print(f"{item}: {why}", file=sys.stderr)
    columns = ["source", "x", "y", "w", "h", "detector_confidence", "label", "confidence"]
    df = pd.DataFrame(rows, columns=[*columns, *(f"p_{c}" for c in predictor.class_names), "frame"])
    atomic_write_bytes(out_dir / "predictions.csv", df.to_csv(index=False).encode())
    atomic_write_bytes(out_dir / "predictions.json", json.dumps(rows, indent=1).encode())
    result = {
        "images": summary["images"],
        "faces": summary["faces"],
        "no_face": summary["no_face"],
        "failed": len(problems),
        "failures": dict(Counter(w.split(" (")[0] for _, w in problems)),
    }
    print(
        f"summary: {result['images']} image(s), {result['faces']} face(s), {result['no_face']} without a face, "
        f"{result['failed']} failed {result['failures'] or ''}".rstrip()
    )
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m helpers.predict", description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="*", help="image files, folders or video files")
    ap.add_argument("--model", type=Path, default=config.MODELS_DIR / "baseline_cnn.keras", help="a saved .keras model")
    ap.add_argument("--out", type=Path, default=config.OUTPUTS_DIR / "predictions", help="output folder")
    ap.add_argument("--camera", type=int, help="webcam index, e.g. 0")
    ap.add_argument("--video-every", type=int, default=10, help="classify every Nth video frame")
    ap.add_argument("--smooth", type=int, default=5, help="video/webcam: average each face over this many frames")
    ap.add_argument(
        "--detector",
        choices=["auto", *faces.DETECTORS],
        default="auto",
        help=f"face detector (auto: the best installed, here {faces.default_detector()})",
    )
    ap.add_argument("--align", action="store_true", help="rotate each face so the eyes are level (needs mtcnn)")
    args = ap.parse_args(argv)
    if not args.paths and args.camera is None:
        ap.error("give at least one PATH or --camera N")
    if args.detector not in ("auto", *faces.available_detectors()):
        ap.error(f"detector {args.detector!r} is not installed here (pip install {args.detector})")
    result = run(
        args.paths,
        args.model,
        args.out,
        args.video_every,
        args.camera,
        detector=args.detector,
        align=args.align,
        smooth=args.smooth,
    )
    return 1 if result.get("failed") else 0


if __name__ == "__main__":
    sys.exit(main())
