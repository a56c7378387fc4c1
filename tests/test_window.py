"""The native live window: frames really reach the screen, q stops it, and ``predict --camera`` streams into it.

Runs on a virtual screen (Xvfb) that the tests start, with xdotool pressing keys; skipped where either is missing
(``.ci/run`` installs both). Where no window can open, the error says so and points to the web page.
"""

from __future__ import annotations

import csv
import ctypes
import os
import shutil
import signal
import subprocess
import time

import cv2
import numpy as np
import pytest

from helpers.cli import predict
from helpers.inference import faces, window

from .test_live import FACE_BOX, camera_frame


@pytest.fixture(scope="module")
def virtual_screen():
    """One virtual screen (1024x768) for the module, which ends with this process.

    Tk keeps its connection to every display it has used until the process exits, and exits the process when one
    of them goes away, so the screen is never stopped while the tests run: it gets SIGTERM when pytest exits.
    """
    if shutil.which("Xvfb") is None or shutil.which("xdotool") is None:
        pytest.skip("no Xvfb/xdotool here (apt-get install xvfb xdotool)")
    read_end, write_end = os.pipe()
    subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_end), "-screen", "0", "1024x768x24", "-nolisten", "tcp"],
        pass_fds=(write_end,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=_end_with_parent,
    )  # fmt: skip
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        return f":{pipe.readline().strip()}"


def _end_with_parent() -> None:
    """In the child: SIGTERM when the parent process exits (Linux's PR_SET_PDEATHSIG)."""
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)


@pytest.fixture
def display(virtual_screen, monkeypatch):
    """The virtual screen as DISPLAY for one test."""
    monkeypatch.setenv("DISPLAY", virtual_screen)
    return virtual_screen


def screen(display: str) -> np.ndarray:
    """What the virtual screen shows now (RGB)."""
    from PIL import ImageGrab

    return np.asarray(ImageGrab.grab(xdisplay=display).convert("RGB"))


def test_window_puts_each_frame_on_screen_and_q_closes_it(display):
    frame = np.zeros((240, 320, 3), np.uint8)
    frame[:, :160] = (255, 0, 0)
    frame[:, 160:] = (0, 0, 255)
    shown = window.FrameWindow()
    assert shown.show(frame)
    time.sleep(0.2)
    shown.root.update()
    x, y = shown.label.winfo_rootx(), shown.label.winfo_rooty()
    pixels = screen(display)
    assert tuple(pixels[y + 120, x + 40]) == (255, 0, 0) and tuple(pixels[y + 120, x + 280]) == (0, 0, 255)
    subprocess.run(["xdotool", "search", "--name", "Emotions", "windowfocus", "--sync", "key", "q"], check=True)
    deadline = time.monotonic() + 5
    while shown.show(frame) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not shown.open and not shown.show(frame)


def test_no_display_is_named_with_the_web_page_as_the_way_out(monkeypatch, capsys):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert "make live" in window.unavailable()
    with pytest.raises(RuntimeError, match="no display"):
        window.FrameWindow()
    with pytest.raises(SystemExit, match="cannot open a window: no display"):
        predict.main(["--camera", "0", "--show", "window"])


class ScaledBox:
    """A detector that finds the one face of :func:`camera_frame`, at whatever size the frame is searched."""

    name = "fixed"

    def detect(self, image):
        s = image.shape[1] / 640
        b = FACE_BOX
        return [faces.Detection(faces.Box(round(b.x * s), round(b.y * s), round(b.w * s), round(b.h * s)), 0.99)]


def test_camera_stream_is_shown_live_until_it_ends(display, tmp_path, monkeypatch):
    """A video file as the camera: every frame annotated (box, label, frame rate), shown, saved and in the CSV."""
    frame = camera_frame()
    video = tmp_path / "stream.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (640, 480))
    for _ in range(12):
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    monkeypatch.setattr(faces, "get_detector", lambda name=None: ScaledBox())
    windows: list[window.FrameWindow] = []

    class Recorded(window.FrameWindow):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.last = None
            windows.append(self)

        def show(self, rgb):
            self.last = rgb.copy()
            return super().show(rgb)

    monkeypatch.setattr(window, "FrameWindow", Recorded)
    out = tmp_path / "out"
    assert predict.main(["--camera", str(video), "--out", str(out)]) == 0
    (shown,) = windows
    assert shown.frames_shown == 12 and not shown.open  # the stream ended, the window closed
    b = FACE_BOX
    assert not np.array_equal(shown.last[b.y : b.y + b.h, b.x : b.x + b.w], frame[b.y : b.y + b.h, b.x : b.x + b.w])
    assert not np.array_equal(shown.last[440:, :120], frame[440:, :120])  # the frame rate, bottom left
    with open(out / predict.CSV_NAME, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 12 and {r["source"] for r in rows} == {f"camera {video}"}
    assert len(list(out.glob("camera_stream_frame*_annotated.jpg"))) == 12
