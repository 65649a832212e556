"""scalezoo's scaling analysis: laws, fits with intervals, compute-optimal allocation, double descent, plots.

Works on any table of runs or arrays; never imports `train` or `zoo`.
"""

import importlib

from scalezoo.scaling import data_constrained, laws, overtraining  # these two register their laws by name
from scalezoo.scaling.best import Best, best_per_point
from scalezoo.scaling.critical_batch import CriticalBatch, fit_critical_batch
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
  "plots": "plots",
  "DoubleDescent": "double_descent",
  "detect_double_descent": "double_descent",
  "interpolation_threshold": "double_descent",
  "fit_reference_scipy": "reference",
}


def __getattr__(name: str):  # PEP 562: a name's module is imported when the name is first used
  if name not in _LAZY:
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
  module = importlib.import_module(f"{__name__}.{_LAZY[name]}")
  return module if name == _LAZY[name] else getattr(module, name)


__all__ = [
  "data_constrained",
  "overtraining",
  "Allocation",
  "Best",
  "best_per_point",
  "CriticalBatch",
  "fit_critical_batch",
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
