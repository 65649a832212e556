"""From a fitted L(N, D) and a target budget to a recommendation: N_opt, D_opt with intervals, the nearest config."""

from dataclasses import dataclass, field

import numpy as np

from scalezoo.scaling.optimal import compute_optimal


@dataclass
class Recommendation:
  C: float
  N_opt: float
  D_opt: float
  L_opt: float
  intervals: dict = field(default_factory=dict)  # 'N_opt', 'D_opt', 'L_opt' -> (lo, hi)
  nearest: str | None = None  # the ladder's config whose N is nearest N_opt in log
  nearest_N: float | None = None
  nearest_D: float | None = None  # tokens that config needs to spend C: C / (6 N) (or flops' inverse)
  warnings: list = field(default_factory=list)  # the fit's, and an extrapolation beyond the fitted N or D

  def summary(self) -> str:
    iv = lambda k: "" if k not in self.intervals else " [{:.4g}, {:.4g}]".format(*self.intervals[k])
    rows = [
      f"at C = {self.C:.4g}: N_opt {self.N_opt:.4g}{iv('N_opt')}, D_opt {self.D_opt:.4g}{iv('D_opt')}, "
      f"D/N {self.D_opt / self.N_opt:.3g}, predicted loss {self.L_opt:.4g}{iv('L_opt')}"
    ]
    if self.nearest is not None:
      rows.append(f"nearest config: {self.nearest} (N {self.nearest_N:.4g}), train it on D = {self.nearest_D:.4g}")
    rows += [f"WARNING: {w}" for w in self.warnings]
    return "\n".join(rows)


def recommend(
  fit, C: float, *, ladder: dict | None = None, fit_range: dict | None = None, flops=None
) -> Recommendation:
  """The compute-optimal N and D at budget C for a fit over (N, D) (approach 3), with the fit's bootstrap
  intervals; `ladder` (config name -> N) gives the nearest config and the D it should train on to spend C.
  fit_range: {'N': (lo, hi), 'D': (lo, hi)} of the fitted runs, to warn about extrapolation."""
  C = float(C)
  if not (np.isfinite(C) and C > 0):
    raise ValueError(f"budget C must be a finite number > 0, got {C}")
  a = compute_optimal(fit, C, flops=flops)
  rec = Recommendation(C=C, N_opt=float(a.N_opt[0]), D_opt=float(a.D_opt[0]), L_opt=float(a.L_opt[0]))
  rec.intervals = {
    k: (float(lo[0]), float(hi[0])) for k, (lo, hi) in a.intervals.items() if k in ("N_opt", "D_opt", "L_opt")
  }
  rec.warnings = list(fit.warnings)
  for k, v in (("N", rec.N_opt), ("D", rec.D_opt)):
    if fit_range and k in fit_range and not (fit_range[k][0] <= v <= fit_range[k][1]):
      lo, hi = fit_range[k]
      rec.warnings.append(
        f"{k}_opt {v:.4g} is outside the fitted runs' {k} range [{lo:.4g}, {hi:.4g}]: an extrapolation"
      )
  if ladder:
    names = list(ladder)
    Ns = np.array([float(ladder[k]) for k in names])
    i = int(np.argmin(np.abs(np.log(Ns) - np.log(rec.N_opt))))
    rec.nearest, rec.nearest_N = names[i], float(Ns[i])
    rec.nearest_D = C / (6.0 * rec.nearest_N) if flops is None else _d_for(flops, rec.nearest_N, C)
  return rec


def _d_for(flops, N, C):
  lo, hi = -5.0, np.log(C) + 5.0
  for _ in range(100):
    mid = 0.5 * (lo + hi)
    lo, hi = (lo, mid) if flops(N, np.exp(mid)) > C else (mid, hi)
  return float(np.exp(0.5 * (lo + hi)))
