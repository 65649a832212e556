"""Data-constrained scaling (Muennighoff et al. 2023, "Scaling Data-Constrained Language Models").

With U unique tokens repeated for D total, repeated tokens are worth less and less: the effective data is
D' = U + U·R_D*·(1 − exp(−R_D/R_D*)), R_D = max(D/U − 1, 0) repetitions; parameters beyond what U can feed
(U_N = min(N, D_to_N(U)), the compute-optimal size for U tokens) likewise give N' = U_N + U_N·R_N*·(1 −
exp(−R_N/R_N*)), R_N = max(N/U_N − 1, 0). Then L = E + A/N'^α + B/D'^β. The paper freezes (E, A, B, α, β)
at its C4 Chinchilla fit and fits R_D*, R_N* by the same Huber-on-log-L objective (δ = 1e-3, summed).
"""

import numpy as np

from scalezoo.scaling import laws
from scalezoo.scaling.optimal import numeric_optimum

# the paper's C4 fit (upstream README, "Parametric Fit"): a, b, e, α = β, as exp-parametrised in the paper
C4 = {
  "E": float(np.exp(0.6254804)),
  "A": float(np.exp(6.255414)),
  "B": float(np.exp(7.3049974)),
  "alpha": 0.3526596,
  "beta": 0.3526596,
}
PUBLISHED = {"R_D": 15.387756, "R_N": 5.309743}  # fitted with the five above frozen


def _log_predict(theta, logX, xp):
  e, a, b, alpha, beta, log_rd, log_rn = (theta[i] for i in range(7))
  logN, logD, logU = logX[0], logX[1], logX[2]
  rd_star, rn_star = xp.exp(log_rd), xp.exp(log_rn)
  # D_to_N(U) = G·(G·U)^(β/α), G = (αA/(βB))^(1/(α+β)): the compute-optimal N for U tokens
  logG = (xp.log(alpha) + a - xp.log(beta) - b) / (alpha + beta)
  logUN = xp.minimum(logN, logG + beta / alpha * (logG + logU))
  R_D = xp.maximum(xp.exp(logD - logU) - 1.0, 0.0)
  R_N = xp.maximum(xp.exp(logN - logUN) - 1.0, 0.0)
  logNp = logUN + xp.log1p(rn_star * (1.0 - xp.exp(-R_N / rn_star)))
  logDp = logU + xp.log1p(rd_star * (1.0 - xp.exp(-R_D / rd_star)))
  t = [e + 0.0 * logN, a - alpha * logNp, b - beta * logDp]
  m = xp.maximum(t[0], xp.maximum(t[1], t[2]))
  return m + xp.log(sum(xp.exp(x - m) for x in t))


def _to_params(th):
  return {
    "E": np.exp(th[..., 0]),
    "A": np.exp(th[..., 1]),
    "B": np.exp(th[..., 2]),
    "alpha": th[..., 3],
    "beta": th[..., 4],
    "R_D": np.exp(th[..., 5]),
    "R_N": np.exp(th[..., 6]),
  }


def _from_params(p):
  keys = ("E", "A", "B")
  return np.array(
    [np.log(p[k]) for k in keys] + [p["alpha"], p["beta"], np.log(p["R_D"]), np.log(p["R_N"])], np.float64
  )


def _grid(logX, logL):
  # the paper's 4 x 4 starts for (R_D*, R_N*) on [0, 20] (0 moved to 0.5: R* = 0 divides by zero)
  stars = np.log([0.5, 20 / 3, 40 / 3, 20.0])
  c4 = _from_params(C4 | {"R_D": 1.0, "R_N": 1.0})[:5]
  return np.array([list(c4) + [r, n] for r in stars for n in stars])


law = laws.Law(
  name="data_constrained",
  params=("E", "A", "B", "alpha", "beta", "R_D", "R_N"),
  inputs=("N", "D", "U"),
  formula="L = E + A/N'^α + B/D'^β, D' = U(1 + R_D*(1 − e^(−R_D/R_D*))), N' alike",
  log_predict=_log_predict,
  to_params=_to_params,
  from_params=_from_params,
  grid=_grid,
)
laws.LAWS["data_constrained"] = law


def predict(params: dict, N, D, U) -> np.ndarray:
  return law.predict(params, {"N": np.asarray(N, float), "D": np.asarray(D, float), "U": np.asarray(U, float)})


def optimal_allocation(params: dict, C, U) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """(N_opt, D_opt, L_opt) minimising L(N, D, U) at compute C = 6·N·D with U unique tokens (U scalar)."""
  C = np.atleast_1d(np.asarray(C, float))
  pred = lambda N, D: predict(params, N.ravel(), D.ravel(), np.full(N.size, float(U))).reshape(N.shape)
  return numeric_optimum(pred, None, C, n_grid=20001)
