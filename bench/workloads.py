"""What each bench row trains, shared by both sides (so both train the same model on the same data): sizes,
optimizers and the data, as numpy. Imports neither JAX nor torch."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

GPT = dict(vocab=256, context=128, d_model=256, n_layers=4, n_heads=4)
GPT_BATCH = 16
GPT_ADAMW = dict(name="adamw", lr=3e-4, weight_decay=0.1)
SGD = dict(name="sgd", lr=0.1, momentum=0.9, weight_decay=5e-4)


@dataclasses.dataclass(frozen=True)
class ConvNet:
  """One SGD-momentum train step of a zoo convnet on random images (10 classes), ours vs PyTorch eager."""

  model: str  # the zoo name
  model_args: dict[str, Any]
  image: int  # input HxWx3
  batch: int
  examples: int = 512  # rows of the fixed data both sides gather batches from


CONVNETS = {
  "resnet20_step": ConvNet("resnet20", {}, 32, 64, 1024),
  "resnet18_step": ConvNet("resnet18", dict(image_size=64, num_classes=10), 64, 32),
  "efficientnet_b0_step": ConvNet("efficientnet_b0", dict(image_size=64, num_classes=10), 64, 16),
}


def gpt_tokens() -> np.ndarray:
  """2048 sequences of context + 1 tokens (inputs and shifted targets)."""
  return np.random.default_rng(0).integers(0, GPT["vocab"], (2048, GPT["context"] + 1)).astype(np.int32)


def images(net: ConvNet) -> tuple[np.ndarray, np.ndarray]:
  """x_NxHxWx3 (float32, NHWC) and y_N (int32) for `net`."""
  rng = np.random.default_rng(0)
  x = rng.normal(size=(net.examples, net.image, net.image, 3)).astype(np.float32)
  return x, rng.integers(0, 10, net.examples).astype(np.int32)


def mlp_spec(runs: int, steps: int) -> dict[str, Any]:
  """The sweep of mlp_sweep32: 8 seeds x 4 learning rates (fewer of both when `runs` < 32), one vmapped group."""
  seeds = list(range(max(1, runs // 4)))
  lrs = [1e-3, 2e-3, 3e-3, 5e-3][: runs // len(seeds)]
  return {
    "name": "bench_mlp",
    "base": {
      "model": "mlp",
      "data": "mnist1d",
      "steps": steps,
      "batch_size": 128,
      "eval_every": 100,
      "model_args": {"width": 256, "depth": 2},
      "optimizer": {"name": "adam"},
    },
    "axes": {"seed": seeds, "optimizer.lr": lrs},
    "sweep": {"checkpoint_every": 0},
  }
