"""A compact L-BFGS for one parameter vector, written for `jax.vmap`: thousands of starts run as one batch.

Two-loop recursion over a ring buffer of m pairs, backtracking Armijo line search, an iteration cap. The loop
makes one function evaluation per pass (line-search trial or first step of the next iteration), and its state
(`State`) can be stopped after any number of iterations and resumed, so a caller can drop finished rows of a
batch (scaling.fit.solve_batch). Stopping follows scipy's L-BFGS-B: projected-gradient norm ≤ gtol, or a
relative decrease ≤ ftol, or a failed line search.
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


class State(NamedTuple):
  """Everything an L-BFGS run carries between function evaluations, so a batch can be paused, compacted and
  resumed. A run is always in a line search: along d from x, trying step t, after j tries at this iteration."""

  it: jax.Array
  x: jax.Array
  f: jax.Array
  g: jax.Array
  S: jax.Array
  Y: jax.Array
  rho: jax.Array
  k: jax.Array
  d: jax.Array
  slope: jax.Array
  t: jax.Array
  j: jax.Array
  stopped: jax.Array
  converged: jax.Array


def _search(g, S, Y, rho, k, m, max_step):
  """The L-BFGS direction (steepest descent if it is not a descent direction), its slope and the first step."""
  d = _direction(g, S, Y, rho, k, m)
  slope = jnp.dot(g, d)
  d = jnp.where(slope < 0, d, -g)  # not a descent direction: restart from steepest descent
  slope = jnp.where(slope < 0, slope, -jnp.dot(g, g))
  t0 = jnp.minimum(1.0, max_step / jnp.maximum(jnp.max(jnp.abs(d)), 1e-30)).astype(g.dtype)  # no huge first step
  return d, slope, t0


def start(fun, x0, *, m=10, max_step=10.0) -> State:
  """The state before the first iteration from x0 (P,)."""
  f0, g0 = jax.value_and_grad(fun)(x0)
  dt, P = x0.dtype, x0.shape[0]
  i0, no = jnp.asarray(0, jnp.int32), jnp.asarray(False)
  S, Y, rho = jnp.zeros((m, P), dt), jnp.zeros((m, P), dt), jnp.zeros((m,), dt)
  return State(i0, x0, f0, g0, S, Y, rho, i0, *_search(g0, S, Y, rho, i0, m, max_step), i0, no, no)


def result(s: State) -> Result:
  return Result(s.x, s.f, jnp.max(jnp.abs(s.g), axis=-1), s.it, s.converged)


def minimize(fun, x0, *, max_iter=1000, m=10, max_step=10.0, **kw) -> Result:
  """Minimise fun(x) -> scalar from x0 (P,). Unused memory slots have rho = 0, which makes them no-ops.
  Tolerances default to the precision of x0: float32 screens, float64 polishes."""
  return result(advance(fun, start(fun, x0, m=m, max_step=max_step), max_iter, max_step=max_step, **kw))


def advance(fun, s: State, until, *, gtol=None, ftol=None, max_ls=30, c1=1e-4, max_step=10.0) -> State:
  """Evaluate, one trial point per pass, until the run has stopped or made `until` iterations in all.

  One evaluation per loop pass (not a line-search loop inside an iteration loop) matters under vmap: a batch's
  nested loop pays, at every iteration, the longest line search of any row; here each row's trials follow
  one another, and the batch pays the most evaluations any row makes in all."""
  dt = s.x.dtype
  f64 = dt == jnp.float64
  ftol = ftol if ftol is not None else (1e-13 if f64 else 1e-6)
  gtol = gtol if gtol is not None else (1e-10 if f64 else 1e-6)
  vg = jax.value_and_grad(fun)
  m = s.S.shape[0]

  def cond(s):
    return (s.it < until) & ~s.stopped

  def body(s):
    it, x, f, g, S, Y, rho, k, d, slope, t, j, stopped, _ = s
    fn, gn = vg(x + t * d)
    ok = jnp.isfinite(fn) & (fn <= f + c1 * t * slope)  # Armijo
    searching = ~ok & (j + 1 <= max_ls)
    # the minimiser of the quadratic through f, slope and fn, kept in [0.1 t, 0.5 t]; 0.1 t after an overflow
    tq = -slope * t * t / (2.0 * (fn - f - slope * t))
    t_next = jnp.where(jnp.isfinite(tq), jnp.clip(tq, 0.1 * t, 0.5 * t), 0.1 * t)
    # the iteration ends here (accepted, or the line search failed): update the memory, pick the next direction
    s_, y_ = t * d, gn - g
    sy = jnp.dot(s_, y_)
    keep = ok & (sy > 1e-10 * jnp.dot(y_, y_))  # curvature condition, else skip the pair
    slot = k % m
    S2 = jnp.where(keep, S.at[slot].set(s_), S)
    Y2 = jnp.where(keep, Y.at[slot].set(y_), Y)
    rho2 = jnp.where(keep, rho.at[slot].set(1.0 / jnp.where(keep, sy, 1.0)), rho)
    k2 = k + keep.astype(jnp.int32)
    x2, f2, g2 = jnp.where(ok, x + s_, x), jnp.where(ok, fn, f), jnp.where(ok, gn, g)
    small = (f - f2) <= ftol * jnp.maximum(jnp.maximum(jnp.abs(f), jnp.abs(f2)), 1e-30)
    conv = ok & (small | (jnp.max(jnp.abs(g2)) <= gtol))
    d2, slope2, t2 = _search(g2, S2, Y2, rho2, k2, m, max_step)
    ended = State(it + 1, x2, f2, g2, S2, Y2, rho2, k2, d2, slope2, t2, jnp.zeros_like(j), stopped | conv | ~ok, conv)
    going = s._replace(t=t_next, j=j + 1)
    return jax.tree.map(lambda a, b: jnp.where(searching, a, b), going, ended)

  return lax.while_loop(cond, body, s)
