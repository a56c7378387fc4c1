"""The live page: a real headless Chromium with a fake camera sees labelled boxes, probabilities and the frame rate.

Needs the live extra (``make setup-live``: Gradio and Playwright) and a Chromium on the PATH; skipped otherwise, and
``make test`` installs the extra. The frame-rate and summary helpers are checked without a browser.
"""

from __future__ import annotations

import re
import socket
import time

import cv2
import numpy as np
import pytest

from helpers import models
from helpers.data.synthetic import make_synthetic_dataset
from helpers.inference import faces
from helpers.inference.predictor import EmotionPredictor, FacePrediction
from helpers.inference.stream import FrameRate, LiveAnnotator

from .conftest import CHROMIUM, CHROMIUM_FLAGS

FACE_BOX = faces.Box(220, 140, 200, 200)


class FixedBox:
    """A detector that finds the one face the fake camera shows, where it shows it."""

    name = "fixed"

    def detect(self, image):
        return [faces.Detection(FACE_BOX, 0.99)]


def test_frame_rate_counts_frames_per_second_of_wall_clock():
    rate = FrameRate(window=5)
    assert rate.tick() == 0.0
    for _ in range(4):
        time.sleep(0.02)
        fps = rate.tick()
    assert 10 < fps < 55  # 4 intervals of about 20 ms: about 50 frames per second at most


def test_summary_and_bars_describe_the_largest_face():
    from helpers.cli import live

    probs = {"happy": 0.7, "sad": 0.3}
    face = FacePrediction.from_probs(FACE_BOX, list(probs), np.array([0.7, 0.3]), 0.99)
    assert live.bars([face]) == pytest.approx(probs)
    assert live.bars([]) == {}
    assert "happy" in live.summary([face], 12.5) and "12.5 frames per second" in live.summary([face], 12.5)
    assert live.summary([]) == "no face found"


def test_live_annotator_draws_boxes_and_counts_frames():
    model = models.build("baseline_cnn", n_classes=7)
    predictor = EmotionPredictor(model)
    predictor.detector = FixedBox()
    live = LiveAnnotator(predictor, smooth=3)
    frame = camera_frame()
    for _ in range(3):
        annotated, preds = live(frame)
    assert len(preds) == 1 and preds[0].label in predictor.class_names
    assert live.fps > 0 and annotated.shape == frame.shape and not np.array_equal(annotated, frame)


def camera_frame() -> np.ndarray:
    """A 640x480 RGB frame with one (synthetic) face, upscaled into FACE_BOX."""
    ds = make_synthetic_dataset(seed=0, sizes={"train": 7, "val": 0, "test": 0})
    frame = np.full((480, 640, 3), 110, np.uint8)
    b = FACE_BOX
    face = cv2.resize(ds.images[0], (b.w, b.h), interpolation=cv2.INTER_CUBIC)
    frame[b.y : b.y + b.h, b.x : b.x + b.w] = face[..., None]
    return frame


def write_y4m(path, frame: np.ndarray, frames: int = 20, fps: int = 10) -> None:
    """A raw YUV4MPEG2 video of ``frame`` repeated: Chromium's fake camera plays it in a loop."""
    h, w = frame.shape[:2]
    yuv = cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420).tobytes()
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            f.write(b"FRAME\n" + yuv)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def live_page(tmp_path):
    """The app served on a free local port, with the shipped model and the fixed-box detector."""
    pytest.importorskip("gradio", reason="the live extra is not installed (make setup-live)")
    from helpers.cli import live

    predictor = EmotionPredictor()
    predictor.detector = FixedBox()
    app = live.build(predictor)
    port = free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}/", predictor
    app.close()


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on the PATH")
def test_live_page_in_a_headless_browser_with_a_fake_camera(live_page, tmp_path):
    sync_playwright = pytest.importorskip("playwright.sync_api", reason="make setup-live").sync_playwright
    url, predictor = live_page
    frame = camera_frame()
    write_y4m(tmp_path / "camera.y4m", frame)
    cv2.imwrite(str(tmp_path / "photo.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    flags = [
        "--use-fake-ui-for-media-stream",  # allow the camera without asking
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={tmp_path / 'camera.y4m'}",
        *CHROMIUM_FLAGS,
    ]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=flags)
        try:
            page = browser.new_page()
            page.goto(url)
            page.get_by_text("Click to Access Webcam").click()
            page.locator("button", has_text=re.compile(r"^\s*Record")).click()  # start streaming
            page.locator("#live-text").get_by_text("frames per second").wait_for(timeout=60_000)
            page.screenshot(path=str(tmp_path / "live.png"))
            text = page.locator("#live-text").inner_text()
            bars = page.locator("#live-bars").inner_text()
            shown = page.locator("#live-output img").get_attribute("src")
            page.get_by_role("tab", name="Photo").click()
            page.locator("input[type=file]").last.set_input_files(str(tmp_path / "photo.png"))
            page.locator("#photo-text").get_by_text("face 1").wait_for(timeout=60_000)
            photo_bars = page.locator("#photo-bars").inner_text()
        finally:
            browser.close()
    assert "face 1" in text and any(name in text for name in predictor.class_names)
    fps = float(text.split("frames per second")[0].split()[-1])
    assert fps > 0
    assert sum(name in bars for name in predictor.class_names) >= 3  # the class probabilities as bars
    assert shown  # the annotated stream is shown
    assert any(name in photo_bars for name in predictor.class_names)
    assert (tmp_path / "live.png").stat().st_size > 20_000
