"""Live video: each frame's faces detected, classified and drawn, with the frame rate on the frame."""

from __future__ import annotations

import time

import cv2
import numpy as np

from helpers.inference.predictor import EmotionPredictor, FacePrediction, TrackSmoother, annotate


class FrameRate:
    """Frames per second over the last ``window`` frames (wall clock between calls of :meth:`tick`)."""

    def __init__(self, window: int = 30):
        self.window = window
        self._times: list[float] = []

    def tick(self) -> float:
        """Record one frame; the current rate (0 until two frames have been seen)."""
        self._times = [*self._times[-(self.window - 1) :], time.perf_counter()]
        span = self._times[-1] - self._times[0]
        return (len(self._times) - 1) / span if span > 0 else 0.0


def draw_rate(image: np.ndarray, fps: float) -> np.ndarray:
    """``image`` (RGB, drawn on in place) with 'NN.N fps' in its bottom-left corner."""
    scale = max(0.5, min(image.shape[:2]) / 600)
    thick = max(1, round(scale * 1.5))
    text = f"{fps:.1f} fps"
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    bottom = image.shape[0]
    cv2.rectangle(image, (0, bottom - th - base - 10), (tw + 10, bottom), (0, 0, 0), -1)
    cv2.putText(
        image, text, (5, bottom - base - 5), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thick, cv2.LINE_AA
    )
    return image


class LiveAnnotator:
    """Call it with each RGB frame: (annotated frame with boxes, labels and fps; the frame's faces, largest first).

    Each face's probabilities are averaged over its last ``smooth`` frames (:class:`TrackSmoother`).
    """

    def __init__(self, predictor: EmotionPredictor, smooth: int = 5, max_side: int | None = None):
        self.predictor = predictor
        self.max_side = max_side  # frames searched at this many pixels (None: the predictor's own)
        self.smoother = TrackSmoother(smooth)
        self.rate = FrameRate()
        self.fps = 0.0

    def __call__(self, frame: np.ndarray) -> tuple[np.ndarray, list[FacePrediction]]:
        preds = self.smoother.update(self.predictor.predict_image(frame, max_side=self.max_side).faces)
        self.fps = self.rate.tick()
        return draw_rate(annotate(frame, preds), self.fps), preds
