"""What the notebooks call beyond the layers below: run profiles (``profiles``), display helpers (``display``),
train-evaluate-record steps (``experiments``) and notebook 05's transfer comparison (``transfer``).
"""
