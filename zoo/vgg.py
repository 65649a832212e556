"""VGG (Simonyan & Zisserman 2014) in torchvision's layout: 3x3 convs with bias, 7x7 adaptive pool, 4096-4096 head."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from scalezoo.zoo.batchnorm import batch_norm
from scalezoo.zoo.conv import Conv
from scalezoo.zoo.registry import ModelSpec, normal_input, register

# conv widths in units of the base width (64); 0 is a 2x2 max pool
LAYOUTS = {
  11: (1, 0, 2, 0, 4, 4, 0, 8, 8, 0, 8, 8, 0),
  13: (1, 1, 0, 2, 2, 0, 4, 4, 0, 8, 8, 0, 8, 8, 0),
  16: (1, 1, 0, 2, 2, 0, 4, 4, 4, 0, 8, 8, 8, 0, 8, 8, 8, 0),
  19: (1, 1, 0, 2, 2, 0, 4, 4, 4, 4, 0, 8, 8, 8, 8, 0, 8, 8, 8, 8, 0),
}


def _pool_matrix(n_in: int, n_out: int) -> np.ndarray:
  """Row i averages input cells [floor(i*n_in/n_out), ceil((i+1)*n_in/n_out)), as torch's adaptive pool."""
  m = np.zeros((n_out, n_in), np.float32)
  for i in range(n_out):
    lo, hi = (i * n_in) // n_out, -((-(i + 1) * n_in) // n_out)
    m[i, lo:hi] = 1.0 / (hi - lo)
  return m


def adaptive_avg_pool(x_BxHxWxC: jax.Array, size: int) -> jax.Array:
  _, H, W, _ = x_BxHxWxC.shape
  if (H, W) == (size, size):
    return x_BxHxWxC
  ph, pw = jnp.asarray(_pool_matrix(H, size)), jnp.asarray(_pool_matrix(W, size))
  return jnp.einsum("bhwc,ih,jw->bijc", x_BxHxWxC, ph, pw)


class VGG(nn.Module):
  depth: int = 16
  batch_norm: bool = False
  width: int = 64
  hidden: int = 4096
  pool_size: int = 7
  num_classes: int = 1000
  dropout: float = 0.5
  bn_variance: str = "biased"  # "unbiased": PyTorch's running-variance update (zoo/batchnorm.py)

  @nn.compact
  def __call__(self, x_BxHxWxC: jax.Array, *, train: bool = False) -> jax.Array:
    h = x_BxHxWxC
    for i, mult in enumerate(LAYOUTS[self.depth]):
      if mult == 0:
        h = nn.max_pool(h, (2, 2), (2, 2))
        continue
      h = Conv(mult * self.width, (3, 3), padding=((1, 1), (1, 1)), name=f"conv_{i}")(h)
      if self.batch_norm:
        h = batch_norm(train, f"bn_{i}", momentum=0.9, epsilon=1e-5, variance=self.bn_variance)(h)
      h = nn.relu(h)
    h = adaptive_avg_pool(h, self.pool_size)
    h = h.reshape(h.shape[0], -1)
    for i in range(2):
      h = nn.relu(nn.Dense(self.hidden, name=f"fc_{i}")(h))
      h = nn.Dropout(self.dropout, deterministic=not train)(h)
    return nn.Dense(self.num_classes, name="head")(h)


_COUNTS = {(11, False): 132_863_336, (16, False): 138_357_544, (11, True): 132_868_840, (16, True): 138_365_992}

for (_depth, _bn), _count in _COUNTS.items():
  register(
    ModelSpec(
      name=f"vgg{_depth}" + ("_bn" if _bn else ""),
      family="cnn",
      build=lambda image_size, in_channels, **cfg: VGG(**cfg),
      defaults=dict(
        image_size=224,
        in_channels=3,
        depth=_depth,
        batch_norm=_bn,
        width=64,
        hidden=4096,
        pool_size=7,
        num_classes=1000,
        dropout=0.5,
        bn_variance="biased",
      ),
      inputs=lambda b, cfg: (normal_input((b, cfg["image_size"], cfg["image_size"], cfg["in_channels"])),),
      reference_params=_count,  # torchvision
    )
  )
