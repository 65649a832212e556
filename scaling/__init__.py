"""scalezoo's scaling analysis: laws, fits with intervals, compute-optimal allocation, double descent, plots.

Works on any table of runs or arrays; never imports `train` or `zoo`.
"""

from scaling import laws, plots
from scaling.bench import bench_fit, synthetic_chinchilla
from scaling.double_descent import DoubleDescent, detect_double_descent, interpolation_threshold
from scaling.extrapolate import Extrapolation, extrapolation_check
from scaling.fit import Fit, fit_law
from scaling.laws import Law
from scaling.optimal import Allocation, Frontier, compute_optimal, envelope, group_budgets, isoflop, pareto_frontier
from scaling.reference import fit_reference_scipy
from scaling.report import fit_dir, plot_dir
from scaling.table import error_curves, finished, read_rows, select, table

__all__ = [
  "Allocation", "DoubleDescent", "Extrapolation", "Fit", "Frontier", "Law", "bench_fit", "compute_optimal",
  "detect_double_descent", "envelope", "error_curves", "extrapolation_check", "finished", "fit_dir", "fit_law",
  "fit_reference_scipy", "group_budgets", "interpolation_threshold", "isoflop", "laws", "pareto_frontier",
  "plot_dir", "plots", "read_rows", "select", "synthetic_chinchilla", "table",
]
