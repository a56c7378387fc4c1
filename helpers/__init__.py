"""The workbook's package: data at the bottom, notebooks and command lines at the top (README, Layout)."""

import os

# TensorFlow's C++ start-up notices (oneDNN, CPU features) are not for users of the command lines or notebooks;
# TF_CPP_MIN_LOG_LEVEL=0 shows them again.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
