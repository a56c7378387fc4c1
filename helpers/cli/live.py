"""A local web page for live emotion recognition: ``make live`` or ``python -m helpers live``.

Turn on the camera (the browser's: a laptop's webcam works through a forwarded port, e.g. from JupyterLab on a
server) or upload a photo, and see every face boxed and labelled, the frame rate on the stream, and the largest
face's class probabilities as bars. The page is a `Gradio <https://gradio.app>`_ app, an optional extra
(``pip install -e '.[live]'``; ``make live`` installs it), served on 127.0.0.1 unless ``--host`` says otherwise.
The model is the shipped one unless ``--model`` names another.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

from helpers.inference import faces
from helpers.inference.predictor import EmotionPredictor, FacePrediction, ModelLoadError, annotate
from helpers.inference.stream import LiveAnnotator

#: Seconds between the camera frames the page sends: up to 20 per second, above what detect + classify reaches on a
#: 2-core CPU (about 19 per second, ``make bench``), so the server, not the page, sets the frame rate.
STREAM_EVERY = 0.05


def bars(preds: list[FacePrediction]) -> dict[str, float]:
    """The largest face's class probabilities (``gr.Label`` draws them as bars); empty when there is no face."""
    return dict(preds[0].probabilities) if preds else {}


def summary(preds: list[FacePrediction], fps: float | None = None) -> str:
    """One line per face ('face 1: happy 87%'), and the frame rate on a live stream."""
    lines = [f"face {i}: **{f.label}** {f.confidence:.0%}" for i, f in enumerate(preds, 1)] or ["no face found"]
    if fps is not None:
        lines.append(f"{fps:.1f} frames per second")
    return "  \n".join(lines)


def build(predictor: EmotionPredictor, smooth: int = 5):
    """The Gradio app: a camera tab (streamed frames) and a photo tab, both annotated by ``predictor``."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr

    live = LiveAnnotator(predictor, smooth)

    def on_frame(frame: np.ndarray | None):
        if frame is None:
            return None, {}, "waiting for the camera"
        annotated, preds = live(np.ascontiguousarray(frame[..., :3]))
        return annotated, bars(preds), summary(preds, live.fps)

    def on_photo(photo: np.ndarray | None):
        if photo is None:
            return None, {}, ""
        rgb = np.ascontiguousarray(photo[..., :3]) if photo.ndim == 3 else np.repeat(photo[..., None], 3, -1)
        preds = predictor.predict_image(rgb, max_side=faces.DETECT_MAX_SIDE).faces  # a photo: searched at full size
        return annotate(rgb, preds), bars(preds), summary(preds)

    names = ", ".join(predictor.class_names)
    with gr.Blocks(title="Facial emotion recognition") as app:
        gr.Markdown(
            f"## Facial emotion recognition\nModel: {predictor.source} ({names}); "
            f"face detector: {predictor.detector.name}."
        )
        with gr.Tab("Camera"):
            with gr.Row():
                camera = gr.Image(sources=["webcam"], streaming=True, type="numpy", label="Camera")
                shown = gr.Image(type="numpy", label="Faces", elem_id="live-output")
            with gr.Row():
                live_bars = gr.Label(label="Largest face", elem_id="live-bars")
                live_text = gr.Markdown(elem_id="live-text")
            camera.stream(
                on_frame, camera, [shown, live_bars, live_text], stream_every=STREAM_EVERY, concurrency_limit=1
            )
        with gr.Tab("Photo"):
            with gr.Row():
                photo = gr.Image(sources=["upload", "clipboard"], type="numpy", label="Photo")
                photo_out = gr.Image(type="numpy", label="Faces", elem_id="photo-output")
            with gr.Row():
                photo_bars = gr.Label(label="Largest face", elem_id="photo-bars")
                photo_text = gr.Markdown(elem_id="photo-text")
            photo.change(on_photo, photo, [photo_out, photo_bars, photo_text])
    return app


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m helpers live", description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="a .keras model (default: the shipped FER-2013 model)")
    ap.add_argument("--detector", default=None, help=f"face detector: auto, {', '.join(faces.DETECTORS)}")
    ap.add_argument("--host", default="127.0.0.1", help="address to serve on (0.0.0.0: every interface)")
    ap.add_argument("--port", type=int, default=7860, help="port to serve on")
    ap.add_argument(
        "--max-side",
        type=int,
        default=faces.LIVE_MAX_SIDE,
        help="frames are searched at this size (longer side)",
    )
    ap.add_argument("--smooth", type=int, default=5, help="frames each face's probabilities are averaged over")
    args = ap.parse_args(argv)
    try:
        import gradio  # noqa: F401
    except ImportError:
        print(
            "the live page needs Gradio, an optional extra: pip install -e '.[live]' (or: make live)", file=sys.stderr
        )
        return 2
    try:
        predictor = EmotionPredictor(args.model, detector=args.detector, max_side=args.max_side)
    except ModelLoadError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"live page: http://{args.host}:{args.port} (Ctrl-C stops it)")
    build(predictor, args.smooth).launch(server_name=args.host, server_port=args.port, inbrowser=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
