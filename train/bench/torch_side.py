"""The PyTorch baselines of `scalezoo bench`: the same GPT, CIFAR ResNet and MLP as zoo/, trained the same way.

Imported only by train.bench, never on the package's normal import path (torch is an optional extra: `make bench`).
Each model matches its zoo twin parameter for parameter (tests/test_bench.py checks the counts): GPT pre-LN with
learned positions, a fused QKV projection, tanh-GELU and the output tied to the embedding; ResNet with option-A
shortcuts and BatchNorm momentum 0.1 (Flax's 0.9); MLP with ReLU. Attention is F.scaled_dot_product_attention
(what nanoGPT uses), AdamW/Adam the fused CPU kernels, so the baseline is idiomatic PyTorch at its best eager speed.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class Block(nn.Module):
  def __init__(self, D: int, H: int, n_layers: int):
    super().__init__()
    self.H = H
    self.ln_1, self.ln_2 = nn.LayerNorm(D, eps=1e-5), nn.LayerNorm(D, eps=1e-5)
    self.qkv, self.proj = nn.Linear(D, 3 * D), nn.Linear(D, D)
    self.fc, self.fc_proj = nn.Linear(D, 4 * D), nn.Linear(4 * D, D)
    for lin, std in ((self.qkv, 0.02), (self.fc, 0.02), (self.proj, 0.02 / math.sqrt(2 * n_layers)),
                     (self.fc_proj, 0.02 / math.sqrt(2 * n_layers))):
      nn.init.normal_(lin.weight, std=std)
      nn.init.zeros_(lin.bias)

  def forward(self, x_BxLxD: torch.Tensor) -> torch.Tensor:
    B, L, D = x_BxLxD.shape
    qkv = self.qkv(self.ln_1(x_BxLxD)).view(B, L, 3, self.H, D // self.H).permute(2, 0, 3, 1, 4)
    att_BxHxLxK = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], is_causal=True)
    x_BxLxD = x_BxLxD + self.proj(att_BxHxLxK.transpose(1, 2).reshape(B, L, D))
    return x_BxLxD + self.fc_proj(F.gelu(self.fc(self.ln_2(x_BxLxD)), approximate="tanh"))


class GPT(nn.Module):
  def __init__(self, vocab: int, context: int, d_model: int, n_layers: int, n_heads: int):
    super().__init__()
    self.wte = nn.Embedding(vocab, d_model)
    self.wpe = nn.Parameter(torch.randn(context, d_model) * 0.01)
    nn.init.normal_(self.wte.weight, std=0.02)
    self.blocks = nn.ModuleList(Block(d_model, n_heads, n_layers) for _ in range(n_layers))
    self.ln_f = nn.LayerNorm(d_model, eps=1e-5)

  def forward(self, tokens_BxL: torch.Tensor) -> torch.Tensor:
    x = self.wte(tokens_BxL) + self.wpe[: tokens_BxL.shape[1]]
    for b in self.blocks:
      x = b(x)
    return self.ln_f(x) @ self.wte.weight.T  # logits_BxLxV


class CifarBlock(nn.Module):
  def __init__(self, cin: int, cout: int, stride: int):
    super().__init__()
    self.stride, self.extra = stride, cout - cin
    self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
    self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
    self.bn1, self.bn2 = nn.BatchNorm2d(cout, momentum=0.1), nn.BatchNorm2d(cout, momentum=0.1)

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    h = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
    if self.stride != 1 or self.extra:  # option A: subsample, zero-pad the channels
      x = F.pad(x[:, :, :: self.stride, :: self.stride], (0, 0, 0, 0, self.extra // 2, self.extra - self.extra // 2))
    return F.relu(h + x)


class ResNetCifar(nn.Module):
  def __init__(self, depth: int = 20, width: int = 16, num_classes: int = 10):
    super().__init__()
    n = (depth - 2) // 6
    self.conv1, self.bn1 = nn.Conv2d(3, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width, momentum=0.1)
    blocks, cin = [], width
    for s in range(3):
      for i in range(n):
        blocks.append(CifarBlock(cin, width * 2**s, 2 if s > 0 and i == 0 else 1))
        cin = width * 2**s
    self.blocks, self.fc = nn.Sequential(*blocks), nn.Linear(cin, num_classes)

  def forward(self, x_BxCxHxW: torch.Tensor) -> torch.Tensor:
    h = self.blocks(F.relu(self.bn1(self.conv1(x_BxCxHxW))))
    return self.fc(h.mean(dim=(2, 3)))


def mlp(in_features: int = 40, width: int = 256, depth: int = 2, num_outputs: int = 10) -> nn.Module:
  layers, d = [], in_features
  for _ in range(depth):
    layers += [nn.Linear(d, width), nn.ReLU()]
    d = width
  return nn.Sequential(*layers, nn.Linear(d, num_outputs))


def count_params(m: nn.Module) -> int:
  return sum(p.numel() for p in m.parameters())


def _adam_kw() -> dict:
  return {"fused": True}  # the CPU fused kernel (torch >= 2.4): the fastest eager optimizer step


class Trainer:
  """A model, its optimizer and one training step on rows `idx` of fixed data tensors (as our engine gathers)."""

  def __init__(self, model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, lm: bool):
    self.model, self.opt, self.x, self.y, self.lm = model, opt, x, y, lm

  def step(self, idx: torch.Tensor) -> float:
    x, y = self.x[idx], self.y[idx]
    out = self.model(x)
    loss = F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))
    self.opt.zero_grad(set_to_none=True)
    loss.backward()
    self.opt.step()
    return loss

  def steps(self, idx_SxB: np.ndarray) -> float:
    """Seconds per step over the rows of idx_SxB; the loss is read once at the end (one sync, like ours)."""
    idx = torch.as_tensor(idx_SxB, dtype=torch.long)
    t = time.perf_counter()
    for i in range(len(idx)):
      loss = self.step(idx[i])
    float(loss.detach())
    return (time.perf_counter() - t) / len(idx)


def gpt_trainer(x: np.ndarray, y: np.ndarray, *, vocab, context, d_model, n_layers, n_heads, lr=3e-4, wd=0.1,
                compile: bool = False, seed: int = 0) -> Trainer:
  torch.manual_seed(seed)
  model = GPT(vocab, context, d_model, n_layers, n_heads).train()
  opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=wd, **_adam_kw())
  if compile:
    model = torch.compile(model)
  return Trainer(model, opt, torch.as_tensor(x, dtype=torch.long), torch.as_tensor(y, dtype=torch.long), True)


def resnet_trainer(x_NxHxWxC: np.ndarray, y: np.ndarray, *, depth=20, lr=0.1, momentum=0.9, wd=5e-4,
                   channels_last: bool = False, seed: int = 0) -> Trainer:
  torch.manual_seed(seed)
  model = ResNetCifar(depth).train()
  x = torch.as_tensor(x_NxHxWxC).permute(0, 3, 1, 2).contiguous()
  if channels_last:
    model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
  opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=wd)
  return Trainer(model, opt, x, torch.as_tensor(y, dtype=torch.long), False)


def mlp_run(split, *, lr: float, seed: int, steps: int, batch: int, width=256, depth=2, eval_every=100) -> dict:
  """One MNIST-1D run as our engine does it: epoch permutations, Adam, val loss every `eval_every` steps, and the
  final train/val/test loss and accuracy. Returns the final metrics."""
  torch.manual_seed(seed)
  g = np.random.default_rng(seed)
  model = mlp(split.train["x"].shape[1], width, depth, int(split.info["num_classes"]))
  opt = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.999), eps=1e-8, **_adam_kw())
  t = {k: (torch.as_tensor(v["x"]), torch.as_tensor(v["y"], dtype=torch.long))
       for k, v in (("train", split.train), ("val", split.val), ("test", split.test))}
  tr = Trainer(model, opt, *t["train"], False)
  n, spe = len(split.train["y"]), len(split.train["y"]) // batch
  perm = None
  curve = []
  for s in range(steps):
    if s % spe == 0:
      perm = torch.as_tensor(g.permutation(n))
    tr.step(perm[(s % spe) * batch: (s % spe + 1) * batch])
    if (s + 1) % eval_every == 0:
      with torch.no_grad():
        curve.append(float(F.cross_entropy(model(t["val"][0]), t["val"][1])))
  out = {"curve": curve}
  with torch.no_grad():
    for k, (x, y) in t.items():
      logits = model(x)
      out[f"{k}_loss"] = float(F.cross_entropy(logits, y))
      out[f"{k}_accuracy"] = float((logits.argmax(-1) == y).float().mean())
  return out


class TorchSide:
  """The PyTorch half of a bench worker (train.bench.worker): the same commands as train.bench.JaxSide."""

  def __init__(self):
    import os

    torch.set_num_threads(int(os.environ.get("SCALEZOO_BENCH_THREADS") or os.cpu_count() or 1))
    self.s: dict[str, Trainer] = {}
    self.rng = np.random.default_rng(0)

  def setup_gpt(self, compile: bool = False, model_args: dict | None = None):
    from scalezoo.train.bench.driver import GPT

    args = {**GPT, **(model_args or {})}
    toks = np.random.default_rng(0).integers(0, args["vocab"], (2048, args["context"] + 1))
    self.s["gpt"] = tr = gpt_trainer(toks[:, :-1], toks[:, 1:], **args, compile=compile)
    return {"params": count_params(tr.model), "threads": torch.get_num_threads(), "torch": torch.__version__}

  def setup_resnet(self):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(1024, 32, 32, 3)).astype(np.float32), rng.integers(0, 10, 1024)
    self.s["resnet"] = tr = resnet_trainer(x, y)
    tr.batch = 64
    return {"params": count_params(tr.model)}

  def run(self, name: str, steps: int):
    from scalezoo.train.bench.driver import _cpu_s

    tr = self.s[name]
    b = getattr(tr, "batch", 16)
    c = _cpu_s()
    s = tr.steps(self.rng.integers(0, len(tr.y), (steps, b)))
    return {"s": s, "cpu_s": (_cpu_s() - c) / steps}

  def matmul(self, n: int = 2048, reps: int = 3):
    a = torch.randn(n, n)
    a @ a
    ts = []
    for _ in range(reps):
      t = time.perf_counter()
      a @ a
      ts.append(time.perf_counter() - t)
    return {"gflops": 2 * n**3 / float(np.median(ts)) / 1e9}

  def mlp_sweep(self, runs: list[dict], steps: int, batch: int, eval_every: int):
    """`runs` ({seed, lr}) one after another, as 32 separate PyTorch scripts would; the data loaded once."""
    from scalezoo.train.data import load

    split = load("mnist1d", seed=0)
    t = time.perf_counter()
    res = [mlp_run(split, lr=r["lr"], seed=r["seed"], steps=steps, batch=batch, eval_every=eval_every) for r in runs]
    return {"s": time.perf_counter() - t, "test_loss": float(np.median([r["test_loss"] for r in res]))}
