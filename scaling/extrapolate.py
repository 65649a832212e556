"""Extrapolation check: fit on the runs below a cut (compute or size), predict the held-out larger runs."""

from dataclasses import dataclass

import numpy as np

from scalezoo.scaling.checks import as_array
from scalezoo.scaling.fit import Fit, fit_law


@dataclass
class Extrapolation:
  fit: Fit
  by: np.ndarray  # the variable the cut is on, every run
  cut: float
  train: np.ndarray  # bool mask of the runs fitted
  inputs: dict
  loss: np.ndarray
  predicted: np.ndarray  # fitted law at every run
  rel_err: np.ndarray  # (predicted − loss) / loss on the held-out runs

  def summary(self) -> str:
    e = np.abs(self.rel_err)
    return (
      f"fit on {int(self.train.sum())} runs with by < {self.cut:.4g}, predicted {e.size} held-out runs: "
      f"mean |rel. err| {np.mean(e):.4g}, median {np.median(e):.4g}, max {np.max(e):.4g}"
    )


def extrapolation_check(
  law, inputs: dict, loss, *, by=None, cut: float | None = None, frac: float = 0.75, **fit_kwargs
) -> Extrapolation:
  """Fit `law` on runs with by < cut (default: the `frac` quantile of by), report relative errors above it.

  by: an array per run (e.g. compute C) or the name of one of `inputs`; default the first input.
  """
  inputs = {k: as_array(f"input {k!r}", v, positive=True) for k, v in inputs.items()}
  loss = as_array("loss", loss, positive=True)
  if by is None or isinstance(by, str):
    key = by or next(iter(inputs))
    if key not in inputs:
      raise ValueError(f"by={key!r} is not one of the inputs {sorted(inputs)}")
    by = inputs[key]
  by = as_array("by", by, positive=True)
  if by.shape != loss.shape:
    raise ValueError(f"mismatched lengths: by {by.shape[0]}, loss {loss.shape[0]}")
  cut = float(np.quantile(by, frac)) if cut is None else float(cut)
  train = by < cut
  if train.all() or not train.any():
    raise ValueError(f"cut {cut:.4g} leaves {int(train.sum())} runs to fit and {int((~train).sum())} to predict")
  fit = fit_law(law, {k: v[train] for k, v in inputs.items()}, loss[train], **fit_kwargs)
  pred = fit.predict(inputs)
  return Extrapolation(
    fit=fit,
    by=by,
    cut=cut,
    train=train,
    inputs=inputs,
    loss=loss,
    predicted=pred,
    rel_err=(pred[~train] - loss[~train]) / loss[~train],
  )
