"""Small display helpers for the notebooks: narrative with numbers from variables, banners, tables."""

from __future__ import annotations

import pandas as pd

from helpers import config

try:
    from IPython.display import Markdown, display
except ImportError:  # no Jupyter (``python -m helpers runner --engine python`` on a bare machine): print instead
    Markdown = str
    display = print


def md(text: str) -> None:
    """Show Markdown (use f-strings so every number comes from a variable)."""
    display(Markdown(text))


def banner(synthetic: bool) -> None:
    """A visible warning when the results come from the embedded synthetic sample."""
    if synthetic:
        md(
            f"<div style='border:3px solid crimson;padding:8px;color:crimson;font-weight:bold'>"
            f"{config.SYNTHETIC_LABEL.upper()}: no FER-2013 download was found, so everything below was computed on "
            f"procedurally generated faces. Numbers are not comparable with published FER-2013 results. "
            f"To use the real data: {config.KAGGLE_HINT}</div>"
        )


def table(df: pd.DataFrame, caption: str = "", digits: int = 3) -> None:
    """Show a DataFrame rounded, with an optional caption."""
    if caption:
        md(f"**{caption}**")
    display(df.round(digits))
