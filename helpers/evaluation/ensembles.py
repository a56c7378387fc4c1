"""Ensembles: selection on validation and averaged probabilities."""

from __future__ import annotations

import numpy as np


def best_on_validation(probs_val: dict[str, np.ndarray], y_val: np.ndarray) -> str:
    """Name of the model with the highest validation accuracy."""
    return max(probs_val, key=lambda n: float((probs_val[n].argmax(1) == y_val).mean()))


def ensemble_proba(prob_list: list[np.ndarray]) -> np.ndarray:
    """Average of the models' probabilities."""
    return np.mean(prob_list, axis=0)


def select_ensemble(probs_val: dict[str, np.ndarray], y_val: np.ndarray) -> list[str]:
    """Ensemble members chosen on validation by greedy forward selection.

    Starts from the best single model and adds, one at a time, the model that raises the averaged ensemble's
    validation accuracy most; stops when no model raises it. Weak models that would drag the mean down stay out.
    """

    def accuracy(names: list[str]) -> float:
        return float((ensemble_proba([probs_val[n] for n in names]).argmax(1) == y_val).mean())

    chosen = [best_on_validation(probs_val, y_val)]
    while rest := [n for n in probs_val if n not in chosen]:
        candidate = max(rest, key=lambda n: accuracy([*chosen, n]))
        if accuracy([*chosen, candidate]) <= accuracy(chosen):
            break
        chosen.append(candidate)
    return chosen
