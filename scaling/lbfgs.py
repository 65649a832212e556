"""A compact L-BFGS for one parameter vector, written for `jax.vmap`: thousands of starts run as one batch.

Two-loop recursion over a ring buffer of m pairs, backtracking Armijo line search, an iteration cap
(the batched while_loop runs until every start has stopped or the cap is hit). Stopping follows scipy's
L-BFGS-B: projected-gradient norm ≤ gtol, or a relative decrease ≤ ftol, or a failed line search.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax


class Result(NamedTuple):
  x: jax.Array
  f: jax.Array
  grad_norm: jax.Array
  iters: jax.Array
  converged: jax.Array  # stopped by a tolerance, not by the cap or a failed line search


def _direction(g, S, Y, rho, k, m):
  def newest_first(i, carry):
    q, al = carry
    j = (k - 1 - i) % m
    a = rho[j] * jnp.dot(S[j], q)
    return q - a * Y[j], al.at[j].set(a)

  q, al = lax.fori_loop(0, m, newest_first, (g, jnp.zeros((m,), g.dtype)))
  j = (k - 1) % m
  yy = jnp.dot(Y[j], Y[j])
  gamma = jnp.where(k > 0, jnp.dot(S[j], Y[j]) / jnp.where(yy > 0, yy, 1.0), 1.0 / jnp.maximum(jnp.linalg.norm(g), 1.0))

  def oldest_first(i, r):
    j = (k + i) % m
    b = rho[j] * jnp.dot(Y[j], r)
    return r + S[j] * (al[j] - b)

  return -lax.fori_loop(0, m, oldest_first, gamma * q)


def minimize(fun, x0, *, max_iter=1000, m=10, gtol=None, ftol=None, max_ls=30, c1=1e-4, max_step=10.0) -> Result:
  """Minimise fun(x) -> scalar from x0 (P,). Unused memory slots have rho = 0, which makes them no-ops.
  Tolerances default to the precision of x0: float32 screens, float64 polishes."""
  f64 = x0.dtype == jnp.float64
  ftol = ftol if ftol is not None else (1e-13 if f64 else 1e-6)
  gtol = gtol if gtol is not None else (1e-10 if f64 else 1e-6)
  vg = jax.value_and_grad(fun)
  P = x0.shape[0]
  f0, g0 = vg(x0)
  dt = x0.dtype
  i0, no = jnp.asarray(0, jnp.int32), jnp.asarray(False)
  init = (i0, x0, f0, g0, jnp.zeros((m, P), dt), jnp.zeros((m, P), dt), jnp.zeros((m,), dt), i0, no, no)

  def cond(s):
    it, *_, stop, _ = s
    return (it < max_iter) & ~stop

  def body(s):
    it, x, f, g, S, Y, rho, k, stopped, _ = s
    d = _direction(g, S, Y, rho, k, m)
    slope = jnp.dot(g, d)
    d = jnp.where(slope < 0, d, -g)  # not a descent direction: restart from steepest descent
    slope = jnp.where(slope < 0, slope, -jnp.dot(g, g))

    def armijo(t, fn):
      return jnp.isfinite(fn) & (fn <= f + c1 * t * slope)

    def ls_cond(c):
      t, fn, _, j = c
      # a stopped start (vmap runs the body for the whole batch) does no line search
      return ~armijo(t, fn) & (j <= max_ls) & ~stopped

    def ls_body(c):
      t, fn, _, j = c
      # the minimiser of the quadratic through f, slope and fn, kept in [0.1 t, 0.5 t]; 0.1 t after an overflow;
      # the first pass (j = 0, fn = inf) tries t0 itself: one call site of vg keeps the compiled program small
      tq = -slope * t * t / (2.0 * (fn - f - slope * t))
      t = jnp.where(j == 0, t, jnp.where(jnp.isfinite(tq), jnp.clip(tq, 0.1 * t, 0.5 * t), 0.1 * t))
      fn, gn = vg(x + t * d)
      return t, fn, gn, j + 1

    t0 = jnp.minimum(1.0, max_step / jnp.maximum(jnp.max(jnp.abs(d)), 1e-30)).astype(dt)  # trust no huge first step
    inf = jnp.asarray(jnp.inf, dt)
    t, fn, gn, j = lax.while_loop(ls_cond, ls_body, (t0, inf, jnp.zeros_like(g), jnp.asarray(0, jnp.int32)))
    ok = jnp.isfinite(fn) & (fn <= f + c1 * t * slope)
    s_, y_ = t * d, gn - g
    sy = jnp.dot(s_, y_)
    keep = ok & (sy > 1e-10 * jnp.dot(y_, y_))  # curvature condition, else skip the pair
    slot = k % m
    S = jnp.where(keep, S.at[slot].set(s_), S)
    Y = jnp.where(keep, Y.at[slot].set(y_), Y)
    rho = jnp.where(keep, rho.at[slot].set(1.0 / jnp.where(keep, sy, 1.0)), rho)
    k = k + keep.astype(jnp.int32)
    x_new, f_new, g_new = jnp.where(ok, x + s_, x), jnp.where(ok, fn, f), jnp.where(ok, gn, g)
    small = (f - f_new) <= ftol * jnp.maximum(jnp.maximum(jnp.abs(f), jnp.abs(f_new)), 1e-30)
    conv = ok & (small | (jnp.max(jnp.abs(g_new)) <= gtol))
    return it + 1, x_new, f_new, g_new, S, Y, rho, k, stopped | conv | ~ok, conv

  it, x, f, g, *_, conv = lax.while_loop(cond, body, init)
  return Result(x, f, jnp.max(jnp.abs(g)), it, conv)
