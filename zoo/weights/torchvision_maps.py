"""Maps between torchvision's state dicts (torchvision 0.29) and the zoo's ResNet, VGG, EfficientNet and ViT."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from scalezoo.zoo.efficientnet import STAGES, round_channels
from scalezoo.zoo.vgg import LAYOUTS
from scalezoo.zoo.weights.mapping import Map, Rule

# torch counts BatchNorm updates in a buffer the zoo has no use for; a state dict it loads must have it
_COUNT = np.array(0, np.int64)


def _conv(t: str, z: str, bias: bool = False) -> list[Rule]:
  return [(f"{t}.weight", f"params/{z}/kernel", "conv")] + ([(f"{t}.bias", f"params/{z}/bias", "id")] if bias else [])


def _linear(t: str, z: str, layout: str = "linear") -> list[Rule]:
  return [(f"{t}.weight", f"params/{z}/kernel", layout), (f"{t}.bias", f"params/{z}/bias", "id")]


def _norm(t: str, z: str) -> list[Rule]:  # LayerNorm
  return [(f"{t}.weight", f"params/{z}/scale", "id"), (f"{t}.bias", f"params/{z}/bias", "id")]


def _bn(t: str, z: str, fill: dict) -> list[Rule]:
  fill[f"{t}.num_batches_tracked"] = _COUNT
  return _norm(t, z) + [
    (f"{t}.running_mean", f"batch_stats/{z}/mean", "id"),
    (f"{t}.running_var", f"batch_stats/{z}/var", "id"),
  ]


def resnet(cfg: dict[str, Any]) -> Map:
  fill: dict = {}
  rules = _conv("conv1", "conv1") + _bn("bn1", "bn1", fill)
  convs = 3 if cfg["bottleneck"] else 2
  for s, n in enumerate(cfg["stage_sizes"]):
    for i in range(n):
      t, z = f"layer{s + 1}.{i}", f"layer{s + 1}_{i}"
      for c in range(1, convs + 1):
        rules += _conv(f"{t}.conv{c}", f"{z}/conv{c}") + _bn(f"{t}.bn{c}", f"{z}/bn{c}", fill)
      if i == 0 and (s > 0 or cfg["bottleneck"]):  # the blocks whose shape changes have a projection shortcut
        rules += _conv(f"{t}.downsample.0", f"{z}/down_conv") + _bn(f"{t}.downsample.1", f"{z}/down_bn", fill)
  rules += _linear("fc", "fc")
  return Map(tuple(rules), fill=fill)


def vgg(cfg: dict[str, Any]) -> Map:
  fill: dict = {}
  rules, t = [], 0  # t: the index in torchvision's `features` Sequential (conv, [bn], relu, or pool)
  last = 0
  for i, mult in enumerate(LAYOUTS[cfg["depth"]]):
    if mult == 0:
      t += 1
      continue
    last = mult
    rules += _conv(f"features.{t}", f"conv_{i}", bias=True)
    if cfg["batch_norm"]:
      rules += _bn(f"features.{t + 1}", f"bn_{i}", fill)
    t += 3 if cfg["batch_norm"] else 2
  P = cfg["pool_size"]
  rules += _linear("classifier.0", "fc_0", f"linear_chw:{last * cfg['width']}:{P}:{P}")
  rules += _linear("classifier.3", "fc_1") + _linear("classifier.6", "head")
  return Map(tuple(rules), fill=fill)


def efficientnet(cfg: dict[str, Any]) -> Map:
  fill: dict = {}
  w = lambda c: round_channels(c * cfg["width_mult"])
  rules = _conv("features.0.0", "stem") + _bn("features.0.1", "stem_bn", fill)
  cin = w(32)
  for s, (expand, _, _, out, r) in enumerate(STAGES):
    for i in range(int(math.ceil(r * cfg["depth_mult"]))):
      t, z = f"features.{s + 1}.{i}.block", f"stage{s + 1}_{i}"
      k = 0
      if round_channels(cin * expand) != cin:
        rules += _conv(f"{t}.0.0", f"{z}/expand") + _bn(f"{t}.0.1", f"{z}/expand_bn", fill)
        k = 1
      rules += _conv(f"{t}.{k}.0", f"{z}/depthwise") + _bn(f"{t}.{k}.1", f"{z}/depthwise_bn", fill)
      rules += _conv(f"{t}.{k + 1}.fc1", f"{z}/se_reduce", bias=True)
      rules += _conv(f"{t}.{k + 1}.fc2", f"{z}/se_expand", bias=True)
      rules += _conv(f"{t}.{k + 2}.0", f"{z}/project") + _bn(f"{t}.{k + 2}.1", f"{z}/project_bn", fill)
      cin = w(out)
  n = len(STAGES) + 1
  rules += _conv(f"features.{n}.0", "head_conv") + _bn(f"features.{n}.1", "head_bn", fill)
  rules += _linear("classifier.1", "classifier")
  return Map(tuple(rules), fill=fill)


def vit(cfg: dict[str, Any]) -> Map:
  rules = _conv("conv_proj", "conv_proj", bias=True)
  rules += [("class_token", "params/class_token", "id"), ("encoder.pos_embedding", "params/pos_embedding", "id")]
  for i in range(cfg["n_layers"]):
    t, z = f"encoder.layers.encoder_layer_{i}", f"encoder_layer_{i}"
    a = f"{z}/self_attention"
    qkv = ("query", "key", "value")
    rules += _norm(f"{t}.ln_1", f"{z}/ln_1") + _norm(f"{t}.ln_2", f"{z}/ln_2")
    rules += [
      (f"{t}.self_attention.in_proj_weight", tuple(f"params/{a}/{p}/kernel" for p in qkv), "linear"),
      (f"{t}.self_attention.in_proj_bias", tuple(f"params/{a}/{p}/bias" for p in qkv), "vec"),
      (f"{t}.self_attention.out_proj.weight", f"params/{a}/out/kernel", "linear:2"),
      (f"{t}.self_attention.out_proj.bias", f"params/{a}/out/bias", "id"),
    ]
    rules += _linear(f"{t}.mlp.0", f"{z}/mlp_1") + _linear(f"{t}.mlp.3", f"{z}/mlp_2")
  rules += _norm("encoder.ln", "ln") + _linear("heads.head", "head")
  return Map(tuple(rules))


# the zoo options a model needs to compute torchvision's function (the zoo's defaults differ)
OVERRIDES = {"efficientnet_b0": dict(bn_momentum=0.9, bn_epsilon=1e-5)}
