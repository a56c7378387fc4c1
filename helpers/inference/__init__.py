"""Inference on real photos: ``faces`` (reading photos, face detectors, crops), ``photos`` (folders of a
user's photos, composed demo photos), ``predictor`` (detect, crop and classify every face) and ``stream`` (live
video, with the frame rate on each frame).
``inference.predict_emotion("photo.jpg")`` uses the shipped model.
"""

from helpers.inference.predictor import (
    EmotionPredictor,
    FacePrediction,
    ImagePrediction,
    ModelLoadError,
    TrackSmoother,
    annotate,
    default_class_names,
    iou,
    load_classifier,
    load_shipped,
    predict_emotion,
)

__all__ = [
    "FacePrediction",
    "ImagePrediction",
    "ModelLoadError",
    "load_classifier",
    "default_class_names",
    "load_shipped",
    "EmotionPredictor",
    "predict_emotion",
    "iou",
    "TrackSmoother",
    "annotate",
]
