"""scalezoo's scaling analysis: laws, fits with intervals, compute-optimal allocation, double descent, plots.

Works on any table of runs or arrays; never imports `train` or `zoo`.
"""

import importlib

from scalezoo.scaling import data_constrained, laws, overtraining  # these two register their laws by name
from scalezoo.scaling.extrapolate import Extrapolation, extrapolation_check
from scalezoo.scaling.fit import Fit, fit_law
from scalezoo.scaling.hparam_law import HparamLaw, fit_hparam_law
from scalezoo.scaling.laws import Law
from scalezoo.scaling.optimal import (
  Allocation,
  Frontier,
  compute_optimal,
  envelope,
  group_budgets,
  isoflop,
  pareto_frontier,
)
from scalezoo.scaling.recommendation import Recommendation, recommend
from scalezoo.scaling.report import fit_dir, plot_dir
from scalezoo.scaling.synthetic import synthetic_chinchilla
from scalezoo.scaling.table import error_curves, finished, read_rows, select, table

# imported on first use, so `fit_law` starts with numpy alone: plots (matplotlib), double descent (scipy.signal)
# and the scipy reference fitter (JAX)
_LAZY = {
  "plots": ("plots", None),
  "DoubleDescent": ("double_descent", "DoubleDescent"),
  "detect_double_descent": ("double_descent", "detect_double_descent"),
  "interpolation_threshold": ("double_descent", "interpolation_threshold"),
  "fit_reference_scipy": ("reference", "fit_reference_scipy"),
}


def __getattr__(name):
  if name not in _LAZY:
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
  module, attr = _LAZY[name]
  mod = importlib.import_module(f"{__name__}.{module}")
  return mod if attr is None else getattr(mod, attr)


__all__ = [
  "data_constrained",
  "overtraining",
  "Allocation",
  "Recommendation",
  "recommend",
  "DoubleDescent",
  "Extrapolation",
  "Fit",
  "Frontier",
  "HparamLaw",
  "Law",
  "compute_optimal",
  "detect_double_descent",
  "envelope",
  "error_curves",
  "extrapolation_check",
  "finished",
  "fit_dir",
  "fit_hparam_law",
  "fit_law",
  "fit_reference_scipy",
  "group_budgets",
  "interpolation_threshold",
  "isoflop",
  "laws",
  "pareto_frontier",
  "plot_dir",
  "plots",
  "read_rows",
  "select",
  "synthetic_chinchilla",
  "table",
]
