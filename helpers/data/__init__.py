"""Data, the bottom layer: the dataset types and prepared data (``datasets``), FER-2013's and FER+'s loaders
(``fer2013``, ``ferplus``), the data audit (``audit``), the embedded synthetic sample (``synthetic``) and the
input pipeline with augmentation (``pipeline``).
"""
