"""Predict emotions on photos, folders, videos or a webcam.

    python -m helpers predict PATH... [--model MODEL.keras] [--out outputs/predictions] [--tta auto|none|flip]
                              [--detector auto|haar|mtcnn] [--align] [--video-every 10] [--smooth 5]
    python -m helpers predict --camera 0 [--show auto|window|none] [--camera-frames N]

``--camera`` shows the annotated stream live in a window, with the frame rate on it, until the window is closed (or
q / Esc pressed in it), when the machine has a display; without one, use the web page (``make live``). It also takes
a video file or stream URL, treated as live. Every live frame is also saved, annotated, with its rows.

Without ``--model`` the shipped FER-2013 model is used (``helpers/shipped/``, see docs/MODEL_CARD.md). Every face is
detected (MTCNN when the mtcnn package is installed, else OpenCV's Haar cascade), cropped with
a margin and classified. Writes an annotated copy of each image (boxes, label, confidence), an annotated video
for each video at the source's frame rate (faces classified every ``--video-every`` frames, smoothed over the
last ``--smooth`` classified frames), and ``predictions.csv`` / ``predictions.json`` with one row per face (per
frame for videos), each naming its input (``source``) and its annotated output (``output``).

Outputs map one to one to inputs: a folder's tree is kept under ``--out``, and names that would still collide
(``a.jpg`` and ``a.png``) keep their extension (``a_png_annotated.jpg``). Rows reach ``predictions.csv`` as each
input finishes, and the previous run's outputs in ``--out`` are removed first, so the folder always describes one
run, also after Ctrl-C. In folders, hidden files, links to folders, broken links, other file types and this
tool's own outputs are skipped and counted, never failed.

Exit status: 0 when every photo and video was read; 1 when a named path is missing or a photo or video could
not be read; 2 when the model, the options or the output folder are unusable (one line says why); 130 after
Ctrl-C (what finished is kept, and the summary printed).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import cv2
from tqdm import tqdm

from helpers import config
from helpers.artifacts import atomic_write_bytes, ordinary_mode
from helpers.inference import faces

VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm"}
MEDIA_SUFFIXES = faces.PHOTO_SUFFIXES | VIDEO_SUFFIXES
CSV_NAME, JSON_NAME = "predictions.csv", "predictions.json"
OWN_SUFFIXES = ("_annotated.jpg", "_annotated.mp4")
#: Photos read and detected before their faces are classified together in one batched model call.
PHOTO_BATCH = 32
#: Live frames processed when no window shows them and --camera-frames is not given.
DEFAULT_CAMERA_FRAMES = 300
COLUMNS = ["source", "output", "frame", "x", "y", "w", "h", "detector_confidence", "label", "confidence"]


@dataclass
class Inputs:
    """What a run will read: (file, output name relative to ``--out``), and every other entry with its reason."""

    items: list[tuple[Path, PurePosixPath]] = field(default_factory=list)
    missing: list[tuple[str, str]] = field(default_factory=list)  # named on the command line, not there: failures
    skipped: list[tuple[str, str]] = field(default_factory=list)  # folder entries that are not inputs: counted only


def _is_own_output(name: str) -> bool:
    return name in (CSV_NAME, JSON_NAME) or name.endswith(OWN_SUFFIXES)


def _skip_reason(entry: Path, out_dir: Path | None) -> str:
    """Why a folder entry is not read ('' when it is a photo or video to read)."""
    if entry.name.startswith("."):
        return "hidden file"
    if entry.is_symlink() and not entry.exists():
        return "broken link"
    if out_dir is not None and entry.resolve().is_relative_to(out_dir):
        return "inside the output folder"
    if _is_own_output(entry.name):
        return "an output of this tool"
    if not entry.is_file():
        return "not a regular file"
    if entry.suffix.lower() not in MEDIA_SUFFIXES:
        return f"not a photo or video ({entry.suffix or 'no extension'})"
    return ""


def _walk(folder: Path, out_dir: Path | None, inputs: Inputs) -> list[Path]:
    """Photos and videos under ``folder``, sorted; links to folders are not followed (no loops)."""
    found = []
    for root, dirs, files in os.walk(folder):
        here, keep = Path(root), []
        for d in sorted(dirs):
            sub = here / d
            if sub.resolve() == out_dir:
                inputs.skipped.append((str(sub), "the output folder"))
            elif d.startswith("."):
                inputs.skipped.append((str(sub), "hidden folder"))
            elif sub.is_symlink():
                inputs.skipped.append((str(sub), "link to a folder (not followed)"))
            else:
                keep.append(d)
        dirs[:] = keep
        for name in sorted(files):
            entry = here / name
            reason = _skip_reason(entry, out_dir)
            if reason:
                inputs.skipped.append((str(entry), reason))
            else:
                found.append(entry)
    return found


def collect(paths: list[str], out_dir: Path | None = None) -> Inputs:
    """Inputs of a run: each named file, and the photos and videos in each named folder (recursively)."""
    inputs = Inputs()
    out = out_dir.resolve() if out_dir is not None else None
    pairs: list[tuple[Path, PurePosixPath]] = []
    for p in map(Path, paths):
        if p.is_dir():
            pairs += [(f, PurePosixPath(f.relative_to(p).as_posix())) for f in _walk(p, out, inputs)]
        elif p.is_file():
            pairs.append((p, PurePosixPath(p.name)))
        else:
            inputs.missing.append((str(p), "broken link" if p.is_symlink() else "no such file or folder"))
    inputs.items = list(zip([f for f, _ in pairs], output_names([r for _, r in pairs])))
    return inputs


def output_names(relative: list[PurePosixPath]) -> list[PurePosixPath]:
    """One distinct annotated-output name per input: ``dir/a.jpg`` -> ``dir/a_annotated.jpg`` (``.mp4`` for a
    video); inputs that would share a name keep their extension (``a_png_annotated.jpg``), then a counter."""

    def base(r: PurePosixPath, with_ext: bool) -> str:
        stem = f"{r.stem}_{r.suffix.lstrip('.').lower()}" if with_ext else r.stem
        ext = ".mp4" if r.suffix.lower() in VIDEO_SUFFIXES else ".jpg"
        return str(r.with_name(f"{stem}_annotated{ext}"))

    plain = [base(r, False) for r in relative]
    counts = Counter(plain)
    names = [base(r, True) if counts[n] > 1 else n for r, n in zip(relative, plain)]
    seen: Counter = Counter()
    out = []
    for n in names:
        seen[n] += 1
        if seen[n] > 1:
            p = PurePosixPath(n)
            n = str(p.with_name(f"{p.stem}-{seen[n]}{p.suffix}"))
        out.append(PurePosixPath(n))
    return out


class OutputError(RuntimeError):
    """An output folder that cannot be used; the message says why, in one line."""


def prepare_out_dir(out_dir: Path) -> Path:
    """Create ``out_dir`` if needed and prove it writable, before any work; raises :class:`OutputError`."""
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"--out {out_dir} is a file, not a folder: name a folder (it is created if missing)")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out_dir):
            pass
    except OSError as e:
        raise OutputError(f"--out {out_dir} cannot be written to: {e.strerror or e}") from e
    return out_dir


def remove_previous_run(out_dir: Path) -> int:
    """Delete what the previous run wrote in ``out_dir`` (the outputs its CSV names, the CSV and JSON)."""
    removed = 0
    old_csv = out_dir / CSV_NAME
    if old_csv.exists():
        with open(old_csv, newline="") as f:
            names = {row.get("output") or "" for row in csv.DictReader(f)}
        for name in sorted(n for n in names if n.endswith(OWN_SUFFIXES)):
            target = (out_dir / name).resolve()
            if target.is_relative_to(out_dir.resolve()) and target.is_file():
                target.unlink()
                removed += 1
    for name in (CSV_NAME, JSON_NAME):
        (out_dir / name).unlink(missing_ok=True)
    return removed


class RowWriter:
    """``predictions.csv`` written as inputs finish (each input's rows flushed together), and the JSON at the end."""

    def __init__(self, out_dir: Path, class_names: tuple[str, ...]):
        self.out_dir, self.columns = out_dir, [*COLUMNS, *(f"p_{c}" for c in class_names)]
        self.rows: list[dict] = []
        self._file = open(out_dir / CSV_NAME, "w", newline="")  # noqa: SIM115 (closed in close())
        self._csv = csv.DictWriter(self._file, self.columns, extrasaction="ignore")
        self._csv.writeheader()
        self._file.flush()

    def add(self, rows: list[dict]) -> None:
        self._csv.writerows(rows)
        self._file.flush()
        self.rows += rows

    def close(self) -> None:
        self._file.close()
        atomic_write_bytes(self.out_dir / JSON_NAME, json.dumps(self.rows, indent=1).encode())


def _open_video(path: Path) -> cv2.VideoCapture:
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise faces.ImageReadError("cannot open video")
    return cap


def _video_frames(cap: cv2.VideoCapture):
    """(index, RGB frame) of every frame; releases ``cap`` at the end."""
    i = 0
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
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
            if keep and self.tmp.exists():
                ordinary_mode(self.tmp)
                self.tmp.replace(self.path)
        self.tmp.unlink(missing_ok=True)


@dataclass
class _Run:
    """One run's predictor, writer and counts."""

    predictor: object
    writer: RowWriter
    out_dir: Path
    summary: Counter = field(default_factory=Counter)
    problems: list[tuple[str, str]] = field(default_factory=list)

    def classify(self, image, smoother=None) -> list:
        preds = self.predictor.predict_image(image).faces
        return smoother.update(preds) if smoother is not None else preds

    def rows(self, preds, source: str, output: str, frame: int | None) -> list[dict]:
        return [{**f.as_row(source), "output": output, "frame": frame} for f in preds]

    def photos(self, batch: list[tuple[Path, PurePosixPath]], progress=None) -> None:
        """Read and detect each photo, then classify every face of the batch in one model call and write each photo.

        A photo that cannot be read is a failure, and the others go on. On Ctrl-C during detection, the photos
        detected so far are still classified and written before the interrupt goes on.
        """
        from helpers.inference import annotate

        done: list[tuple[Path, PurePosixPath, object, tuple]] = []
        try:
            for path, output in batch:
                try:
                    image = faces.read_photo(path)
                except (faces.ImageReadError, OSError) as e:
                    self.problems.append((str(path), str(e)))
                    if progress is not None:
                        progress.update()
                    continue
                done.append((path, output, image, self.predictor.detect_faces(image)))
        finally:
            predictions = self.predictor.classify_detected([d for *_, d in done])
            for (path, output, image, _), preds in zip(done, predictions):
                self._count(preds, str(path), report=True)
                self._save_jpg(annotate(image, preds), str(output))
                self.writer.add(self.rows(preds, str(path), str(output), None))
                self.summary["inputs_done"] += 1
                if progress is not None:
                    progress.update()

    def video(self, path: Path, output: PurePosixPath, every: int, smooth: int) -> None:
        """Every frame written at the source's rate; faces classified every ``every`` frames, drawn in between."""
        from helpers.inference import TrackSmoother, annotate

        cap = _open_video(path)
        target = self.out_dir / output
        target.parent.mkdir(parents=True, exist_ok=True)
        out = _VideoOut(target, cap.get(cv2.CAP_PROP_FPS) or 25.0)
        smoother, preds, rows = TrackSmoother(smooth), [], []
        try:
            for idx, frame in _video_frames(cap):
                if idx % every == 0:
                    preds = self.classify(frame, smoother)
                    self._count(preds, str(path), report=False)
                    rows += self.rows(preds, str(path), str(output), idx)
                out.write(annotate(frame, preds))
        except KeyboardInterrupt:
            out.close(keep=True)  # the frames written so far, matching the rows kept
            self.writer.add(rows)
            raise
        except BaseException:
            out.close(keep=False)
            raise
        out.close()
        self.writer.add(rows)

    def camera(self, source: int | str, frames: int | None, smooth: int, window=None) -> None:
        """Live frames from a webcam index or a stream (file, URL): annotated with the frame rate, each shown in
        ``window`` (a :class:`~helpers.inference.window.FrameWindow`) when given and saved as a JPEG, with its rows.

        Stops after ``frames`` frames (None: when the stream ends or the window is closed).
        """
        from helpers.inference.stream import LiveAnnotator

        name = f"camera {source}"
        cap = cv2.VideoCapture(source)
        if not cap.isOpened():
            self.problems.append((name, "cannot open camera"))
            return
        live, stem = LiveAnnotator(self.predictor, smooth, faces.LIVE_MAX_SIDE), _camera_stem(source)  # small frames
        try:
            i = 0
            while frames is None or i < frames:
                ok, frame = cap.read()
                if not ok:
                    break
                rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
                shown, preds = live(rgb)
                self._count(preds, name, report=False)
                output = f"{stem}_frame{i:06d}_annotated.jpg"
                self._save_jpg(shown, output)
                self.writer.add(self.rows(preds, name, output, i))
                i += 1
                if window is not None and not window.show(shown):
                    break
        finally:
            cap.release()

    def _save_jpg(self, rgb, name: str) -> None:
        """An annotated RGB image as ``<out_dir>/<name>``, written atomically."""
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        if not ok:
            raise faces.ImageReadError("annotated image could not be encoded")
        atomic_write_bytes(self.out_dir / name, buf.tobytes())

    def _count(self, preds: list, name: str, report: bool) -> None:
        self.summary["images"] += 1
        self.summary["faces"] += len(preds)
        if not preds:
            self.summary["no_face"] += 1
            if report:
                print(f"{name}: no face found", file=sys.stderr)


def _camera_stem(source: int | str) -> str:
    """Output name prefix of a live source: ``camera0`` for a webcam, ``camera_<file stem>`` for a stream."""
    if isinstance(source, int):
        return f"camera{source}"
    return "camera_" + "".join(c if c.isalnum() or c in "-_" else "_" for c in Path(str(source)).stem)


def run(
    paths: list[str],
    model_path: Path | None,
    out_dir: Path,
    video_every: int = 10,
    camera: int | str | None = None,
    max_camera_frames: int | None = DEFAULT_CAMERA_FRAMES,
    detector: str | None = None,
    align: bool = False,
    smooth: int = 5,
    tta: str | None = None,
    window=None,
) -> dict:
    """Process everything; returns the summary (counts of images, faces, failures and skips by reason).

    ``model_path`` None: the shipped model. ``tta`` None: the shipped model's default (none for other models).
    ``window``: where the camera's annotated frames are shown live (None: saved only).
    """
    from helpers.inference import EmotionPredictor, ModelLoadError

    try:
        prepare_out_dir(out_dir)
        predictor = EmotionPredictor(model_path, detector=detector, align=align, tta=tta)
    except (OutputError, ModelLoadError) as e:
        print(f"error: {e}", file=sys.stderr)
        return {"setup_error": str(e), "failed": 0, "exit_code": 2}
    inputs = collect(paths, out_dir)
    removed = remove_previous_run(out_dir)
    if removed:
        print(f"{out_dir}: removed {removed} output(s) of the previous run", file=sys.stderr)
    state = _Run(predictor, RowWriter(out_dir, predictor.class_names), out_dir)
    state.problems += inputs.missing
    interrupted = False
    progress = tqdm(total=len(inputs.items), desc="predicting", unit="file", disable=len(inputs.items) < 2)
    try:
        for batch in _photo_batches(inputs.items):
            if batch[0][0].suffix.lower() not in VIDEO_SUFFIXES:
                state.photos(batch, progress)
                continue
            (f, output) = batch[0]
            try:
                state.video(f, output, video_every, smooth)
                state.summary["inputs_done"] += 1
            except (faces.ImageReadError, OSError) as e:
                state.problems.append((str(f), str(e)))
            progress.update()
        if camera is not None:
            state.camera(camera, max_camera_frames, smooth, window)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        progress.close()
        state.writer.close()
    return _summarise(state, inputs, interrupted)


def _photo_batches(items: list[tuple[Path, PurePosixPath]]):
    """The inputs in order: runs of up to :data:`PHOTO_BATCH` photos, and each video on its own."""
    batch: list[tuple[Path, PurePosixPath]] = []
    for item in items:
        if item[0].suffix.lower() in VIDEO_SUFFIXES:
            if batch:
                yield batch
                batch = []
            yield [item]
        else:
            batch.append(item)
            if len(batch) == PHOTO_BATCH:
                yield batch
                batch = []
    if batch:
        yield batch


def _summarise(state: _Run, inputs: Inputs, interrupted: bool) -> dict:
    for item, why in state.problems:
        print(f"{item}: {why}", file=sys.stderr)
    skipped = Counter(why.split(" (")[0] for _, why in inputs.skipped)
    s = state.summary
    result = {
        "inputs": len(inputs.items),
        "inputs_done": s["inputs_done"],
        "images": s["images"],
        "faces": s["faces"],
        "no_face": s["no_face"],
        "failed": len(state.problems),
        "failures": dict(Counter(w.split(" (")[0] for _, w in state.problems)),
        "skipped": len(inputs.skipped),
        "skipped_reasons": dict(skipped),
        "interrupted": interrupted,
        "exit_code": 130 if interrupted else (1 if state.problems else 0),
    }
    head = f"interrupted after {s['inputs_done']} of {len(inputs.items)} input(s): " if interrupted else "summary: "
    failed = f"{result['failed']} failed" + (f" {result['failures']}" if result["failures"] else "")
    skipped = f"{result['skipped']} skipped" + (f" {result['skipped_reasons']}" if skipped else "")
    print(
        f"{head}{s['images']} image(s), {s['faces']} face(s), {s['no_face']} without a face, {failed}, {skipped}; "
        f"predictions in {state.out_dir / CSV_NAME}"
    )
    return result


def _count(minimum: int):
    """argparse type: an integer of at least ``minimum``, refused in one line otherwise."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def _camera_source(text: str) -> int | str:
    """argparse type: a webcam index (a whole number of at least 0), else a video file or stream URL as given."""
    return _count(0)(text) if text.lstrip("-").isdigit() else text


def _live_window(show: str, camera: int | str | None):
    """The window for the live stream that ``--show`` asks for, or None; a window asked for but impossible: exit 2."""
    from helpers.inference import window

    if camera is None or show == "none":
        return None
    reason = window.unavailable()
    if reason is not None:
        if show == "window":
            raise SystemExit(f"error: cannot open a window: {reason}")
        print(f"live stream saved, not shown: {reason}", file=sys.stderr)
        return None
    return window.FrameWindow()


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m helpers predict", description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="*", help="image files, folders or video files")
    ap.add_argument("--model", type=Path, help="a saved .keras model (default: the shipped FER-2013 model)")
    ap.add_argument(
        "--tta",
        choices=["auto", "none", "flip"],
        default="auto",
        help="average each face with its mirror image (auto: as the shipped model's card says; none for others)",
    )
    ap.add_argument("--out", type=Path, default=config.OUTPUTS_DIR / "predictions", help="output folder")
    ap.add_argument(
        "--camera", type=_camera_source, help="webcam index (e.g. 0), or a video file or stream URL to treat as live"
    )
    ap.add_argument(
        "--camera-frames",
        type=_count(1),
        help=f"live: frames to process (default: until the window is closed, or {DEFAULT_CAMERA_FRAMES} without one)",
    )
    ap.add_argument(
        "--show",
        choices=["auto", "window", "none"],
        default="auto",
        help="live: show the annotated stream in a window (auto: when there is a display)",
    )
    ap.add_argument("--video-every", type=_count(1), default=10, help="classify every Nth video frame")
    ap.add_argument("--smooth", type=_count(1), default=5, help="video/webcam: average each face over this many frames")
    ap.add_argument(
        "--detector",
        choices=["auto", *faces.DETECTORS],
        default="auto",
        help=f"face detector (auto: the best installed, here {faces.default_detector()})",
    )
    ap.add_argument("--align", action="store_true", help="rotate each face so the eyes are level (needs mtcnn)")
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = parser()
    args = ap.parse_args(argv)
    if not args.paths and args.camera is None:
        ap.error("give at least one PATH or --camera N")
    if args.detector not in ("auto", *faces.available_detectors()):
        ap.error(f"detector {args.detector!r} is not installed here (pip install {args.detector})")
    shown = _live_window(args.show, args.camera)
    frames = args.camera_frames or (None if shown is not None else DEFAULT_CAMERA_FRAMES)
    try:
        result = run(
            args.paths,
            args.model,
            args.out,
            args.video_every,
            args.camera,
            frames,
            detector=args.detector,
            align=args.align,
            smooth=args.smooth,
            tta=None if args.tta == "auto" else args.tta,
            window=shown,
        )
    finally:
        if shown is not None:
            shown.close()
    return int(result["exit_code"])


if __name__ == "__main__":
    sys.exit(main())
