"""Run a function as one XLA program that rounds exactly as op-by-op (eager) dispatch does.

Eager JAX compiles and runs each op alone; one jitted program lets XLA rewrite across ops: it folds
`sqrt(2) * erfinv(u) * 0.02` (jax.random.normal times an initializer's stddev) into `erfinv(u) * 0.0282842703`,
and LLVM contracts a multiply and an add into one FMA. Both change the last bits, so a jitted Flax init gives other
parameters than the eager one that committed results were trained from. `as_eager(fun)` traces `fun`, drops the
ops its outputs do not need (an init's forward pass), and replays the rest with an optimization barrier after every
floating-point result and every float literal made opaque, so XLA cannot fold across ops; functions that eager mode
runs jitted (jax.random.normal, split, ...) stay one sub-program each, as they do eagerly. The barriers do not stop
fusion (a*b+c still became an FMA here), so a float add or subtract of a product raises NotBitExact at trace time
and the caller runs `fun` eagerly instead. For GPT d256 one compile replaces hundreds of eagerly compiled
executables (~130 MB of cache).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.extend import core


def _inexact(aval) -> bool:
  return hasattr(aval, "dtype") and jnp.issubdtype(aval.dtype, jnp.inexact)


class NotBitExact(Exception):
  """The traced function has an op pair that XLA:CPU may contract into an FMA: run it eagerly."""


def _needed(jaxpr) -> list:
  """The equations the outputs depend on, in order."""
  need, keep = {v for v in jaxpr.outvars if not isinstance(v, core.Literal)}, []
  for e in reversed(jaxpr.eqns):
    if e.effects or any(v in need for v in e.outvars):
      keep.append(e)
      need |= {v for v in e.invars if not isinstance(v, core.Literal)}
  return keep[::-1]


def _check_no_contraction(eqns) -> None:
  made_by = {v: e.primitive.name for e in eqns for v in e.outvars}
  for e in eqns:
    if e.primitive.name in ("add", "sub") and _inexact(e.outvars[0].aval):
      if any(made_by.get(v) in ("mul", "dot_general") for v in e.invars if not isinstance(v, core.Literal)):
        raise NotBitExact(f"{e.primitive.name} of a product at {e.source_info.traceback}")


def as_eager(fun: Callable[..., Any]) -> Callable[..., Any]:
  """fun, to be called under jax.jit (once per argument shapes), with eager rounding; raises NotBitExact."""

  def run(*args):
    closed, shapes = jax.make_jaxpr(fun, return_shape=True)(*args)
    jaxpr, eqns = closed.jaxpr, _needed(closed.jaxpr)
    _check_no_contraction(eqns)
    lits = [v for e in eqns for v in e.invars if isinstance(v, core.Literal) and _inexact(v.aval)]
    # float literals as opaque values (eager passes them to each op as arguments; XLA cannot fold through a barrier)
    opaque = iter(_barrier([jnp.asarray(np.asarray(v.val, v.aval.dtype)) for v in lits]))
    env = dict(zip(jaxpr.constvars, _barrier(list(closed.consts))))
    env |= dict(zip(jaxpr.invars, jax.tree.leaves(args)))
    read = lambda v: (next(opaque) if _inexact(v.aval) else v.val) if isinstance(v, core.Literal) else env[v]
    for e in eqns:
      with e.ctx.manager:
        outs = e.primitive.bind(*map(read, e.invars), **e.primitive.get_bind_params(e.params))
      env |= dict(zip(e.outvars, _barrier(list(outs) if e.primitive.multiple_results else [outs])))
    outs = [v.val if isinstance(v, core.Literal) else env[v] for v in jaxpr.outvars]
    return jax.tree.unflatten(jax.tree.structure(shapes), outs)

  return run


def _barrier(xs: list) -> list:
  """xs with every floating-point array behind one optimization barrier (integers and keys round no differently)."""
  idx = [i for i, x in enumerate(xs) if _inexact(x)]
  if idx:
    for i, y in zip(idx, lax.optimization_barrier([xs[i] for i in idx])):
      xs[i] = y
  return xs
