"""Input checks at the boundary: a bad array raises ValueError saying what is wrong, never a silent wrong fit."""

import numpy as np


def as_array(name: str, v, *, positive: bool = False) -> np.ndarray:
  """`v` as a finite 1-D float64 array (strictly positive if asked: logs are taken of it)."""
  try:
    a = np.asarray(v, np.float64)
  except (TypeError, ValueError) as e:
    raise ValueError(f"{name} is not numeric: {e}") from None
  if a.ndim != 1:
    raise ValueError(f"{name} must be 1-D, got shape {a.shape}")
  if a.shape[0] == 0:
    raise ValueError(f"{name} is empty")
  bad = ~np.isfinite(a)
  if bad.any():
    raise ValueError(f"{name} has {int(bad.sum())} NaN/inf values (first at index {int(np.argmax(bad))})")
  if positive and np.any(a <= 0):
    i = int(np.argmax(a <= 0))
    raise ValueError(f"{name} must be > 0 (logs are taken), got {a[i]} at index {i}")
  return a


def as_positive_inputs(inputs: dict, loss) -> dict:
  """Checked float64 copies of inputs (and loss under '__loss__'), all of one length."""
  out = {k: as_array(f"input {k!r}", v, positive=True) for k, v in inputs.items()}
  if loss is not None:
    out["__loss__"] = as_array("loss", loss, positive=True)
  lengths = {k: a.shape[0] for k, a in out.items()}
  if len(set(lengths.values())) > 1:
    raise ValueError(f"mismatched lengths: { ({k.strip('_'): v for k, v in lengths.items()}) }")
  return out
