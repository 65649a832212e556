"""The PyTorch half of a bench worker: the same GPT, ResNets, EfficientNet-B0 and MLP as zoo/, trained the same way.

Imported only by the torch worker (bench.worker), never on the package's normal import path (torch is an
optional extra: `make bench`). Each model matches its zoo twin parameter for parameter (the bench checks the
counts, and tests/test_bench.py): GPT pre-LN with learned positions, a fused QKV projection, tanh-GELU and the
output tied to the embedding; the CIFAR ResNet with option-A shortcuts; ResNet-18 as torchvision builds it (the
blocks' last BN scale starting at zero, as ours); EfficientNet-B0 as torchvision builds it (squeeze-excitation,
stochastic depth); MLP with ReLU. BatchNorm momenta are Flax's complements (0.9 -> 0.1, 0.99 -> 0.01). Attention is
F.scaled_dot_product_attention (what nanoGPT uses), AdamW/Adam the fused CPU kernels, so the baseline is idiomatic
PyTorch at its best eager speed.
"""

from __future__ import annotations

import math
import os
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from scalezoo.bench import probes
from scalezoo.bench import workloads as W
from scalezoo.zoo.efficientnet import STAGES  # the zoo's B0 table: the twin builds the same network


class Block(nn.Module):
  def __init__(self, D: int, H: int, n_layers: int):
    super().__init__()
    self.H = H
    self.ln_1, self.ln_2 = nn.LayerNorm(D, eps=1e-5), nn.LayerNorm(D, eps=1e-5)
    self.qkv, self.proj = nn.Linear(D, 3 * D), nn.Linear(D, D)
    self.fc, self.fc_proj = nn.Linear(D, 4 * D), nn.Linear(4 * D, D)
    for lin, std in (
      (self.qkv, 0.02),
      (self.fc, 0.02),
      (self.proj, 0.02 / math.sqrt(2 * n_layers)),
      (self.fc_proj, 0.02 / math.sqrt(2 * n_layers)),
    ):
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


class BasicBlock(nn.Module):
  def __init__(self, cin: int, cout: int, stride: int):
    super().__init__()
    self.conv1, self.bn1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout, momentum=0.1)
    self.conv2, self.bn2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout, momentum=0.1)
    nn.init.zeros_(self.bn2.weight)  # as ours (Goyal et al.); torchvision starts it at one
    self.down = None
    if stride != 1 or cin != cout:
      self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout, momentum=0.1))

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    h = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
    return F.relu(h + (x if self.down is None else self.down(x)))


class ResNet18(nn.Module):
  def __init__(self, num_classes: int = 1000, width: int = 64):
    super().__init__()
    self.conv1, self.bn1 = nn.Conv2d(3, width, 7, 2, 3, bias=False), nn.BatchNorm2d(width, momentum=0.1)
    blocks, cin = [], width
    for s in range(4):
      for i in range(2):
        blocks.append(BasicBlock(cin, width * 2**s, 2 if s > 0 and i == 0 else 1))
        cin = width * 2**s
    self.blocks, self.fc = nn.Sequential(*blocks), nn.Linear(cin, num_classes)

  def forward(self, x_BxCxHxW: torch.Tensor) -> torch.Tensor:
    h = F.max_pool2d(F.relu(self.bn1(self.conv1(x_BxCxHxW))), 3, 2, 1)
    return self.fc(self.blocks(h).mean(dim=(2, 3)))


def _divisible(v: float, d: int = 8) -> int:  # zoo.efficientnet's (torchvision's) channel rounding
  new = max(d, int(v + d / 2) // d * d)
  return new + d if new < 0.9 * v else new


def _bn01(c: int) -> nn.BatchNorm2d:
  return nn.BatchNorm2d(c, eps=1e-3, momentum=0.01)


class MBConv(nn.Module):
  def __init__(self, cin: int, out: int, expand: int, kernel: int, stride: int, drop_path: float):
    super().__init__()
    mid, sq = _divisible(cin * expand), max(1, cin // 4)
    self.expand = None if mid == cin else nn.Sequential(nn.Conv2d(cin, mid, 1, bias=False), _bn01(mid), nn.SiLU())
    self.depthwise = nn.Sequential(
      nn.Conv2d(mid, mid, kernel, stride, kernel // 2, groups=mid, bias=False), _bn01(mid), nn.SiLU()
    )
    self.se_reduce, self.se_expand = nn.Conv2d(mid, sq, 1), nn.Conv2d(sq, mid, 1)
    self.project = nn.Sequential(nn.Conv2d(mid, out, 1, bias=False), _bn01(out))
    self.residual, self.drop_path = stride == 1 and cin == out, drop_path

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    h = self.depthwise(x if self.expand is None else self.expand(x))
    h = h * torch.sigmoid(self.se_expand(F.silu(self.se_reduce(h.mean(dim=(2, 3), keepdim=True)))))
    h = self.project(h)
    if not self.residual:
      return h
    if self.training and self.drop_path > 0:  # stochastic depth, per example ("row" mode)
      keep = 1 - self.drop_path
      h = h * torch.empty(h.shape[0], 1, 1, 1).bernoulli_(keep) / keep
    return h + x


class EfficientNetB0(nn.Module):
  def __init__(self, num_classes: int = 1000, dropout: float = 0.2, stochastic_depth: float = 0.2):
    super().__init__()
    self.stem = nn.Sequential(nn.Conv2d(3, 32, 3, 2, 1, bias=False), _bn01(32), nn.SiLU())
    total, k, cin, blocks = sum(r for *_, r in STAGES), 0, 32, []
    for expand, kernel, stride, out, n in STAGES:
      for i in range(n):
        blocks.append(MBConv(cin, out, expand, kernel, stride if i == 0 else 1, stochastic_depth * k / total))
        cin, k = out, k + 1
    self.blocks = nn.Sequential(*blocks)
    self.head = nn.Sequential(nn.Conv2d(cin, 1280, 1, bias=False), _bn01(1280), nn.SiLU())
    self.dropout, self.classifier = nn.Dropout(dropout), nn.Linear(1280, num_classes)

  def forward(self, x_BxCxHxW: torch.Tensor) -> torch.Tensor:
    h = self.head(self.blocks(self.stem(x_BxCxHxW))).mean(dim=(2, 3))
    return self.classifier(self.dropout(h))


CONVNETS = {
  "resnet20": lambda: ResNetCifar(20),
  "resnet18": lambda: ResNet18(10),
  "efficientnet_b0": lambda: EfficientNetB0(10),
}


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


def gpt_trainer(
  x: np.ndarray,
  y: np.ndarray,
  *,
  vocab,
  context,
  d_model,
  n_layers,
  n_heads,
  lr=3e-4,
  wd=0.1,
  compile: bool = False,
  seed: int = 0,
) -> Trainer:
  torch.manual_seed(seed)
  model = GPT(vocab, context, d_model, n_layers, n_heads).train()
  opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=wd, **_adam_kw())
  if compile:
    model = torch.compile(model)
  return Trainer(model, opt, torch.as_tensor(x, dtype=torch.long), torch.as_tensor(y, dtype=torch.long), True)


def convnet_trainer(net: W.ConvNet, *, channels_last: bool = False, seed: int = 0) -> Trainer:
  """SGD momentum on `net`'s data (W.images), NCHW as PyTorch's default (channels_last: NHWC memory)."""
  torch.manual_seed(seed)
  model = CONVNETS[net.model]().train()
  x_NxHxWxC, y = W.images(net)
  x = torch.as_tensor(x_NxHxWxC).permute(0, 3, 1, 2).contiguous()
  if channels_last:
    model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
  opt = torch.optim.SGD(
    model.parameters(), lr=W.SGD["lr"], momentum=W.SGD["momentum"], weight_decay=W.SGD["weight_decay"]
  )
  return Trainer(model, opt, x, torch.as_tensor(y, dtype=torch.long), False)


def mlp_run(split, *, lr: float, seed: int, steps: int, batch: int, width=256, depth=2, eval_every=100) -> dict:
  """One MNIST-1D run as our engine does it: epoch permutations, Adam, val loss every `eval_every` steps, and the
  final train/val/test loss and accuracy. Returns the final metrics."""
  torch.manual_seed(seed)
  g = np.random.default_rng(seed)
  model = mlp(split.train["x"].shape[1], width, depth, int(split.info["num_classes"]))
  opt = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.999), eps=1e-8, **_adam_kw())
  t = {
    k: (torch.as_tensor(v["x"]), torch.as_tensor(v["y"], dtype=torch.long))
    for k, v in (("train", split.train), ("val", split.val), ("test", split.test))
  }
  tr = Trainer(model, opt, *t["train"], False)
  n, spe = len(split.train["y"]), len(split.train["y"]) // batch
  perm = None
  curve = []
  for s in range(steps):
    if s % spe == 0:
      perm = torch.as_tensor(g.permutation(n))
    tr.step(perm[(s % spe) * batch : (s % spe + 1) * batch])
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
  """The PyTorch half of a bench worker: the same commands as bench.jax_side.JaxSide."""

  def __init__(self):
    torch.set_num_threads(int(os.environ.get("SCALEZOO_BENCH_THREADS") or os.cpu_count() or 1))
    self.s: dict[str, Trainer] = {}
    self.rng = np.random.default_rng(0)

  def setup_gpt(self, compile: bool = False):
    toks = W.gpt_tokens()
    self.s["gpt"] = tr = gpt_trainer(toks[:, :-1], toks[:, 1:], **W.GPT, compile=compile)
    tr.batch = W.GPT_BATCH
    return {"params": count_params(tr.model), "threads": torch.get_num_threads(), "torch": torch.__version__}

  def setup_convnet(self, row: str, channels_last: bool = False):
    net = W.CONVNETS[row]
    self.s[row] = tr = convnet_trainer(net, channels_last=channels_last)
    tr.batch = net.batch
    return {"params": count_params(tr.model)}

  def run(self, name: str, steps: int):
    tr = self.s[name]
    c = probes.cpu_s()
    s = tr.steps(self.rng.integers(0, len(tr.y), (steps, tr.batch)))
    return {"s": s, "cpu_s": (probes.cpu_s() - c) / steps}

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
    from scalezoo.data import load

    split = load("mnist1d", seed=0)
    t = time.perf_counter()
    res = [mlp_run(split, lr=r["lr"], seed=r["seed"], steps=steps, batch=batch, eval_every=eval_every) for r in runs]
    return {"s": time.perf_counter() - t, "test_loss": float(np.median([r["test_loss"] for r in res]))}
