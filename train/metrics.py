"""Metrics from sums that an evaluation accumulates over batches (so any batch size gives the same answer)."""

from __future__ import annotations

import numpy as np


def accuracy(confusion_KxK: np.ndarray) -> float:
  return float(np.trace(confusion_KxK) / max(confusion_KxK.sum(), 1))


def per_class_error(confusion_KxK: np.ndarray) -> list[float]:
  """Rows are true classes: 1 - recall of each class (NaN for a class absent from the split)."""
  support = confusion_KxK.sum(axis=1)
  with np.errstate(invalid="ignore", divide="ignore"):
    return (1.0 - np.diag(confusion_KxK) / support).tolist()


def macro_f1(confusion_KxK: np.ndarray) -> float:
  tp = np.diag(confusion_KxK).astype(float)
  precision_den, recall_den = confusion_KxK.sum(axis=0), confusion_KxK.sum(axis=1)
  f1 = np.where(precision_den + recall_den > 0, 2 * tp / np.maximum(precision_den + recall_den, 1), 0.0)
  present = recall_den > 0
  return float(f1[present].mean()) if present.any() else 0.0
