"""scalezoo's scaling analysis: laws, fits with intervals, compute-optimal allocation, double descent, plots.

Works on any table of runs or arrays; never imports `train` or `zoo`.
"""

from scalezoo.scaling import laws, plots
from scalezoo.scaling.double_descent import DoubleDescent, detect_double_descent, interpolation_threshold
from scalezoo.scaling.extrapolate import Extrapolation, extrapolation_check
from scalezoo.scaling.fit import Fit, fit_law
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
from scalezoo.scaling.reference import fit_reference_scipy
from scalezoo.scaling.report import fit_dir, plot_dir
from scalezoo.scaling.synthetic import synthetic_chinchilla
from scalezoo.scaling.table import error_curves, finished, read_rows, select, table

__all__ = [
  "Allocation",
  "DoubleDescent",
  "Extrapolation",
  "Fit",
  "Frontier",
  "Law",
  "compute_optimal",
  "detect_double_descent",
  "envelope",
  "error_curves",
  "extrapolation_check",
  "finished",
  "fit_dir",
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
