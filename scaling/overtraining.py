"""Over-training (Gadre et al. 2024, "Language models scale reliably with over-training and on downstream tasks").

With the token multiplier M = D/N and compute C = 6ND, a Chinchilla law with α = β becomes
L(C, M) = E + (a·M^η + b·M^(−η))·C^(−η): at fixed M the loss is a power law in C with one exponent for every M,
so a fit on small-M runs extrapolates along C, and the M-dependence (the a, b terms) extrapolates along M.
theta = (log E, log a, log b, η). `err_link` is the paper's downstream link from loss to top-1 error,
Err(L) = ε − k·exp(−γ·L); theta = (log ε, log k, γ).
"""

import numpy as np

from scalezoo.scaling import laws


def _gadre_log(theta, logX, xp):
  e, a, b, eta = theta[0], theta[1], theta[2], theta[3]
  logC, logM = logX[0], logX[1]
  t = [e + 0.0 * logC, a + eta * logM - eta * logC, b - eta * logM - eta * logC]
  m = xp.maximum(t[0], xp.maximum(t[1], t[2]))
  return m + xp.log(sum(xp.exp(x - m) for x in t))


gadre = laws.Law(
  name="gadre",
  params=("E", "a", "b", "eta"),
  inputs=("C", "M"),
  formula="L = E + (a·M^η + b·M^(−η))·C^(−η)",
  log_predict=_gadre_log,
  to_params=lambda th: {"E": np.exp(th[..., 0]), "a": np.exp(th[..., 1]), "b": np.exp(th[..., 2]), "eta": th[..., 3]},
  from_params=lambda p: np.array([np.log(p["E"]), np.log(p["a"]), np.log(p["b"]), p["eta"]], np.float64),
  grid=lambda logX, logL: laws.product_grid(
    laws.HOFFMANN_E, (0.0, 5.0, 10.0, 15.0, 20.0), (0.0, 5.0, 10.0, 15.0, 20.0), (0.05, 0.1, 0.2, 0.3, 0.5)
  ),
)


def _err_log(theta, logX, xp):
  log_eps, log_k, gamma = theta[0], theta[1], theta[2]
  L = xp.exp(logX[0])
  return log_eps + xp.log1p(-xp.exp(log_k - log_eps - gamma * L))  # nan where k·e^(−γL) ≥ ε: rejected by the fit


err_link = laws.Law(
  name="err_link",
  params=("eps", "k", "gamma"),
  inputs=None,
  formula="Err = ε − k·exp(−γ·L)",
  log_predict=_err_log,
  to_params=lambda th: {"eps": np.exp(th[..., 0]), "k": np.exp(th[..., 1]), "gamma": th[..., 2]},
  from_params=lambda p: np.array([np.log(p["eps"]), np.log(p["k"]), p["gamma"]], np.float64),
  grid=lambda logX, logL: laws.product_grid(
    np.log([0.5, 0.8, 0.95, 1.0]), (-2.0, 0.0, 2.0, 4.0, 6.0), (0.25, 0.5, 1.0, 2.0, 4.0)
  ),
)

laws.LAWS["gadre"] = gadre
laws.LAWS["err_link"] = err_link


def multiplier(N, D) -> np.ndarray:
  """M = D/N, the token multiplier (20 is Chinchilla-optimal)."""
  return np.asarray(D, float) / np.asarray(N, float)
