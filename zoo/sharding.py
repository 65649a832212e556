"""Logical axis names of the zoo's parameters, as data: a parameter path pattern -> one name per dimension.

The engine maps the names to mesh axes (train/mesh.py), as MaxText's logical axis rules do. The names live in a
table keyed by the layer names the models use, rather than in boxed params (`nn.with_logical_partitioning`), so a
parameter tree stays plain arrays for everything else that reads it (checkpoints, converters, init_from, counts).
A table by path is how big_vision and EasyLM write their sharding rules.

Names: embed (the model width), heads, kv_heads (grouped-query attention's key/value heads, fewer than heads),
kv (a head's width), mlp (the feed-forward hidden units), expert (a mixture's routed experts, zoo/moe.py), vocab,
and None for a dimension that is never split (positions, classes, the fused q/k/v axis, input features).

Activations carry names too (MaxText's): `activation_batch`, `activation_length`, `activation_embed`,
`activation_heads`, `activation_kv_heads`, `activation_kv`, `activation_mlp`, `activation_vocab`. A model marks its
block boundaries with `constrain(x, names)`; the engine maps the names to mesh axes with the same rules table as the
parameters' while it traces a step on a mesh (`activation_sharding`), so the batch stays split over (data, fsdp) in
every layer. Outside that (one device, or no engine) `constrain` returns its input: the model never names a mesh.
"""

from __future__ import annotations

import contextlib
import contextvars
import re

import flax.linen as nn
import jax

_ATTN_IN = r"(query|key|value)"
_FF_IN = r"(fc|fc1|intermediate|mlp_1|mlm_dense|pooler|dense_\d+)"
_FF_OUT = r"(fc_proj|fc2|output|mlp_2)"

# (pattern on "module/.../param", axes). The first full match wins; a leading stacked-layers axis (nn.scan) is
# left unsplit.
RULES: tuple[tuple[str, tuple[str | None, ...]], ...] = (
  # the Llama family (Hugging Face's layer names)
  (r".*/q_proj/kernel", ("embed", "heads", "kv")),
  (r".*/q_proj/bias", ("heads", "kv")),
  (r".*/(k_proj|v_proj)/kernel", ("embed", "kv_heads", "kv")),
  (r".*/(k_proj|v_proj)/bias", ("kv_heads", "kv")),
  (r".*/o_proj/kernel", ("heads", "kv", "embed")),
  (r".*/(gate_proj|up_proj)/kernel", ("embed", "mlp")),
  (r".*/down_proj/kernel", ("mlp", "embed")),
  (r".*/moe/router", ("embed", None)),
  (r".*/moe/(expert_gate|expert_up)", ("expert", "embed", "mlp")),
  (r".*/moe/expert_down", ("expert", "mlp", "embed")),
  (r".*/(q_norm|k_norm)/scale", ("kv",)),
  (r"lm_head/kernel", ("embed", "vocab")),
  (rf".*/{_ATTN_IN}/kernel", ("embed", "heads", "kv")),
  (rf".*/{_ATTN_IN}/bias", ("heads", "kv")),
  (r".*/(out|proj)/kernel", ("heads", "kv", "embed")),
  (r".*/(out|proj)/bias", ("embed",)),
  (r".*/qkv/kernel", ("embed", None, "heads", "kv")),
  (r".*/qkv/bias", (None, "heads", "kv")),
  (rf"(.*/)?{_FF_IN}/kernel", ("embed", "mlp")),
  (rf"(.*/)?{_FF_IN}/bias", ("mlp",)),
  (rf".*/{_FF_OUT}/kernel", ("mlp", "embed")),
  (rf".*/{_FF_OUT}/bias", ("embed",)),
  (r"(.*/)?\w*(ln|norm)\w*/(scale|bias)", ("embed",)),
  (r"(.*/)?\w*embed\w*/embedding", ("vocab", "embed")),
  (r"wte/embedding", ("vocab", "embed")),
  (r"(wpe|pos_embedding|class_token)", (None,) * 2 + ("embed",)),  # trimmed to the parameter's rank below
  (r"(head|classifier|mlm_out|cls)/kernel", ("embed", None)),
  (r"(head|classifier|mlm_out|cls)/bias", (None,)),
  (r"mlm_bias", ("vocab",)),
  (r"conv_proj/kernel", (None, None, None, "embed")),  # ViT's patchify: (P, P, C, D)
  (r"conv_proj/bias", ("embed",)),
)
_COMPILED = tuple((re.compile(p), axes) for p, axes in RULES)

# The models whose every parameter has names (a test holds the table to this); others are replicated.
COVERED = (
  "gpt", "gpt2_small", "bert", "bert_base", "vit_ti16", "vit_s16", "vit_b16", "transformer_base", "mlp", "llama",
  "llama_moe", "llama3_2_1b", "llama3_1_8b", "qwen2_5_0_5b", "qwen3_0_6b", "mistral_7b",
)  # fmt: skip


def path_of(keys) -> str:
  return "/".join(str(getattr(k, "key", getattr(k, "name", k))) for k in keys)


def axes_of(path: str, ndim: int) -> tuple[str | None, ...] | None:
  """The logical names of a parameter's dimensions, or None when no rule names it."""
  for pattern, axes in _COMPILED:
    if pattern.fullmatch(path):
      if pattern.pattern.startswith("(wpe"):
        axes = axes[-ndim:]
      if len(axes) < ndim:  # stacked by nn.scan: the layer axis is never split
        axes = (None,) * (ndim - len(axes)) + axes
      return axes if len(axes) == ndim else None
  return None


def named(params) -> dict[str, tuple[str | None, ...] | None]:
  """Each parameter's path -> its logical axis names (None: no rule names it)."""
  flat, _ = jax.tree_util.tree_flatten_with_path(params)
  return {path_of(p): axes_of(path_of(p), len(leaf.shape)) for p, leaf in flat}


def unnamed(params) -> list[str]:
  """Paths of the parameters no rule names."""
  return [path for path, axes in named(params).items() if axes is None]


BLD = ("activation_batch", "activation_length", "activation_embed")
BL3HK = ("activation_batch", "activation_length", None, "activation_heads", "activation_kv")  # fused q/k/v
BLHK = ("activation_batch", "activation_length", "activation_heads", "activation_kv")
BLGK = ("activation_batch", "activation_length", "activation_kv_heads", "activation_kv")  # grouped keys/values
BHLL = ("activation_batch", "activation_heads", "activation_length", None)  # attention logits/probabilities
BLF = ("activation_batch", "activation_length", "activation_mlp")
BLV = ("activation_batch", "activation_length", "activation_vocab")

_ACTIVE: contextvars.ContextVar = contextvars.ContextVar("scalezoo_activation_sharding", default=None)


@contextlib.contextmanager
def activation_sharding(mesh, rules, platform: str | None = None):
  """While a step is traced inside: `constrain` places activations on `mesh` (None: one device, nothing to place)
  by `rules` ((name, mesh axes) pairs), and `platform()` names the XLA platform the step compiles for."""
  token = _ACTIVE.set((mesh, tuple(rules), platform))
  try:
    yield
  finally:
    _ACTIVE.reset(token)


def constrain(x: jax.Array, names: tuple[str | None, ...]) -> jax.Array:
  """`x` split as its activation axis names say on the engine's mesh; `x` itself outside a mesh (the same bits)."""
  active = _ACTIVE.get()
  if active is None or active[0] is None:
    return x
  mesh, rules, _ = active
  return nn.with_logical_constraint(x, names, rules=rules, mesh=mesh)


def platform() -> str | None:
  """The platform ("cpu", "gpu", "tpu") the engine is tracing a step for; None outside a step (init, eval_shape)."""
  active = _ACTIVE.get()
  return None if active is None else active[2]


def mesh_axes(*names: str):
  """The mesh a step is traced on and the mesh axes of these activation names: (None, None...) outside one (a
  Pallas kernel inside the step runs per device under shard_map: zoo/splash.py)."""
  active = _ACTIVE.get()
  if active is None or active[0] is None:
    return None, (None,) * len(names)
  mesh, rules, _ = active
  return mesh, tuple(nn.logical_to_mesh_axes(names, rules))
