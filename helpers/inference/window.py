"""A native window that shows annotated frames as they come (the webcam, a video, a stream URL).

Tk (Python's standard library) draws it, so it needs no extra package, and works beside ``opencv-python-headless``,
which has no windows of its own. :func:`unavailable` says why no window can open (no display, no Tk); the web page
(``make live``) is the way to see the stream then. Close the window, or press ``q`` or Esc in it, to stop.
"""

from __future__ import annotations

import os
import sys

import cv2
import numpy as np

TITLE = "Emotions (q or Esc: stop)"


def unavailable() -> str | None:
    """Why a window cannot open here (no Tk, no display), or None when it can."""
    try:
        import tkinter  # noqa: F401
    except ImportError:
        return "Tk is not installed (Python's tkinter module)"
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return "no display (DISPLAY is not set); use the web page instead: make live"
    return None


class FrameWindow:
    """A window showing one RGB frame at a time; :meth:`show` returns False once the user has closed it."""

    def __init__(self, title: str = TITLE):
        import tkinter as tk

        reason = unavailable()
        if reason is not None:
            raise RuntimeError(f"cannot open a window: {reason}")
        self._tk = tk
        self.root = tk.Tk()
        self.root.title(title)
        self.label = tk.Label(self.root, borderwidth=0)
        self.label.pack()
        self.open = True
        self.frames_shown = 0
        self._photo = None
        self.root.protocol("WM_DELETE_WINDOW", self.close)
        for key in ("<KeyPress-q>", "<KeyPress-Q>", "<Escape>"):
            self.root.bind(key, lambda _event: self.close())

    def show(self, rgb: np.ndarray) -> bool:
        """Draw ``rgb`` (H x W x 3, uint8) and handle pending events; False when the window is closed."""
        if not self.open:
            return False
        ok, ppm = cv2.imencode(".ppm", cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR))
        if not ok:
            raise ValueError("frame could not be encoded for display")
        self._photo = self._tk.PhotoImage(master=self.root, data=ppm.tobytes(), format="PPM")
        self.label.configure(image=self._photo)
        self.frames_shown += 1
        self.root.update()
        return self.open

    def close(self) -> None:
        """Close the window (idempotent)."""
        if self.open:
            self.open = False
            self.root.destroy()

    def __enter__(self) -> FrameWindow:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
