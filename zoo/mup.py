"""μP (Yang et al. 2022, Tensor Programs V) as a transform of the standard models: which parameter is which by
path, the width ratio against a base model, the init rescale and the model's multipliers; the
per-layer learning-rate rules are the optimizer's (train/mup_optim.py).

The formulation is the one with an output multiplier (the paper's Table 8, as microsoft/mup's MuReadout and
MuAdam/MuSGD implement it), with m = width / base width:
  - hidden weights (both dimensions grow with width): init std x m^-1/2 where the model's init does not already
    scale with fan-in (GPT's constant 0.02), Adam(W) lr x 1/m, SGD lr x 1;
  - vector-like parameters (one dimension grows: embeddings, positions, biases, norms, the first layer, the readout
    kernel): init unchanged, Adam lr x 1, SGD lr x m;
  - parameters that do not grow (the readout bias): unchanged;
  - the output multiplied by 1/m (GPT's tied readout too), and attention logits by 1/d_head instead of
    1/sqrt(d_head) (scaled to be equal at the base width: sqrt(d_base)/d).
At the base width every rule is the identity, so μP there is the standard model. The model keeps its modules:
zoo/gpt.py, zoo/mlp.py and zoo/vit.py have `attn_mult`/`out_mult` hooks (1.0 by default) and .clone sets them.
Widths that must grow with the main one (ViT's mlp_dim) scale with it: the base model is the model shrunk by m.
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from scalezoo.zoo import registry
from scalezoo.zoo.sharding import path_of


class Family(NamedTuple):
  width: str  # the model option μP scales
  fan_in_init: bool  # its hidden init already scales as 1/sqrt(fan-in)
  tied: bool  # its readout is the input embedding
  scaled: tuple[str, ...] = ()  # other options that grow in proportion to the width


VIT = Family("d_model", True, False, ("mlp_dim",))
MODELS: dict[str, Family] = {
  "gpt": Family("d_model", False, True),
  "gpt2_small": Family("d_model", False, True),
  "mlp": Family("width", True, False),
  **{name: VIT for name in ("vit_ti16", "vit_s16", "vit_b16")},
  "llama": Family("d_model", False, False, ("d_ff",)),
  "llama_moe": Family("d_model", False, False, ("d_ff",)),
}

# (pattern on "module/.../param", role): the first full match wins; a leading nn.scan axis changes nothing
ROLES: tuple[tuple[str, str], ...] = (
  (r"(.*/)?(qkv|proj|fc|fc_proj)/kernel", "hidden"),  # GPT's blocks
  (r"(.*/)?(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)/kernel", "hidden"),  # the Llama family's
  (r"(.*/)?moe/expert_(gate|up|down)", "hidden"),  # routed experts (zoo/moe.py): E matrices, D x F each; the router
  # (D x experts) is vector-like, as a readout is
  (r"encoder_layer_\d+/(self_attention/(query|key|value|out)|mlp_1|mlp_2)/kernel", "hidden"),  # ViT's blocks
  (r"dense_[1-9]\d*/kernel", "hidden"),  # MLP's hidden-to-hidden layers (dense_0 is the input layer)
  (r"head/bias", "fixed"),
  (r".*", "vector"),  # embeddings, positions, biases, norms, the input layer, the readout kernel
)
_ROLES = tuple((re.compile(p), role) for p, role in ROLES)


def role_of(path: str) -> str:
  return next(role for pattern, role in _ROLES if pattern.fullmatch(path))


def roles(params) -> dict[str, str]:
  flat, _ = jax.tree_util.tree_flatten_with_path(params)
  return {path_of(p): role_of(path_of(p)) for p, _ in flat}


def check(model: str, model_args: dict[str, Any], base: dict[str, Any], *, zero_readout: bool = False) -> None:
  """ValueError (one line) unless μP can transform this model with these base shapes."""
  if model not in MODELS:
    raise ValueError(f"parametrization 'mup' supports the models {', '.join(MODELS)}, not {model!r}")
  width, _, tied, scaled = MODELS[model]
  allowed = {width, "n_heads"} if "n_heads" in registry.spec(model).defaults else {width}
  extra = sorted(set(base) - allowed)
  if width not in base or extra:
    raise ValueError(f"mup.base must give the base {width!r} (allowed keys: {', '.join(sorted(allowed))}), got {base}")
  for k in base:
    if isinstance(base[k], bool) or not isinstance(base[k], int) or base[k] <= 0:
      raise ValueError(f"mup.base.{k} must be a positive int, got {base[k]!r}")
  args = registry.resolve(model, **model_args)
  if zero_readout and (tied or args.get("tie_embeddings")):
    raise ValueError(f"mup.zero_readout needs an untied readout; {model!r} ties its output to the embedding")
  if "n_heads" in args:
    heads = base.get("n_heads", args["n_heads"])
    if base[width] % heads:
      raise ValueError(f"mup.base.{width} = {base[width]} is not divisible by the base n_heads {heads}")
  for k in scaled:  # the base model has args[k] / m of it: a whole number
    if (args[k] * base[width]) % args[width]:
      raise ValueError(
        f"μP scales {k} with {width}: {k} = {args[k]} at {width} = {args[width]} gives no whole {k} at the base"
        f" {width} = {base[width]}"
      )


@dataclasses.dataclass(frozen=True)
class Mup:
  """The transform for one model at one width."""

  ratio: float  # m = width / base width
  head_ratio: float  # head width / base head width
  fan_in_init: bool  # the model's hidden init already scales with fan-in
  zero_readout: bool = False
  zero_query: bool = False

  def model(self, module):
    """The standard module with μP's output multiplier and attention scale set."""
    changes = {"out_mult": 1.0 / self.ratio}
    if hasattr(module, "attn_mult"):
      changes["attn_mult"] = 1.0 / math.sqrt(self.head_ratio)  # with the model's 1/sqrt(d): sqrt(d_base) / d
    return module.clone(**changes)

  def init(self, params):
    """The standard init rescaled (traceable: runs inside the jitted init)."""

    def one(keys, p):
      path, role = path_of(keys), role_of(path_of(keys))
      if role == "hidden" and not self.fan_in_init:
        p = p * (self.ratio**-0.5)
      if self.zero_query and re.fullmatch(r"(.*/)?qkv/kernel", path):
        p = jnp.asarray(p).at[..., 0, :, :].set(0.0)  # (..., D, 3, H, K): q is index 0 of the fused axis
      if self.zero_query and re.fullmatch(r"(.*/)?(query|q_proj)/kernel", path):
        p = jnp.zeros_like(p)
      if self.zero_readout and path in ("head/kernel", "lm_head/kernel"):
        p = jnp.zeros_like(p)
      return p

    return jax.tree_util.tree_map_with_path(one, params)


def make(model: str, model_args: dict[str, Any], base: dict[str, Any], **options: bool) -> Mup:
  """μP for `model` with `model_args` against the base model `base` (its width, and n_heads if it differs)."""
  check(model, model_args, base, zero_readout=options.get("zero_readout", False))
  width, fan_in_init = MODELS[model].width, MODELS[model].fan_in_init
  args = registry.resolve(model, **model_args)
  ratio = args[width] / base[width]
  head_ratio = 1.0
  if args.get("head_dim"):  # a head width set apart from the width (Llama's head_dim): the base has the same
    head_ratio = 1.0
  elif "n_heads" in args:
    head_ratio = (args[width] / args["n_heads"]) / (base[width] / base.get("n_heads", args["n_heads"]))
  return Mup(ratio, head_ratio, fan_in_init, **options)
