"""Short GPT and ViT runs on meshes of 8 host CPU devices; prints one JSON object (run by tests/test_mesh.py).

XLA_FLAGS must force 8 devices before JAX starts; the parent test sets it.
"""

import json
import sys

import jax

from scalezoo.train import config, loop
from scalezoo.train import mesh as mesh_lib

GPT = {
  "model": "gpt",
  "data": "pycode",
  "steps": 4,
  "batch_size": 16,
  "eval_every": 2,
  "eval_examples": 32,
  "model_args": {"d_model": 32, "n_layers": 2, "n_heads": 4, "context": 32},
  "data_args": {"context": 32},
}
VIT = {
  "model": "vit_ti16",
  "data": "digits",
  "steps": 4,
  "batch_size": 16,
  "eval_every": 2,
  "eval_examples": 64,
  "data_args": {"size": 16},
  "model_args": {
    "image_size": 16,
    "in_channels": 1,
    "patch": 8,
    "d_model": 32,
    "n_layers": 2,
    "n_heads": 4,
    "mlp_dim": 64,
  },
}
MESHES = {
  "one": {"devices": 1},
  "data8": {"mesh": {"data": 8}},
  "fsdp8": {"mesh": {"fsdp": 8}},
  "d2f2t2": {"mesh": {"data": 2, "fsdp": 2, "tensor": 2}},
}


def run(base, **changes):
  trained = loop.fit_group([config.parse({**base, **changes})])
  r = trained.record
  return {
    "train_loss": r.curve["train_loss"],
    "val_loss": r.curve["val_loss"],
    "test_loss": r.metrics["test_loss"],
    "param_bytes_per_device": mesh_lib.per_device_bytes(trained.state.params),
    "opt_bytes_per_device": mesh_lib.per_device_bytes(trained.state.opt_state),
  }


def main(which):
  assert len(jax.devices()) == 8, jax.devices()
  out = {}
  if "meshes" in which:
    for name, base in (("gpt", GPT), ("vit", VIT)):
      out[name] = {m: run(base, **changes) for m, changes in MESHES.items()}
  if "features" in which:
    sharded = {"mesh": {"data": 2, "fsdp": 2, "tensor": 2}}
    out["features"] = {
      "plain": run(GPT, **sharded),
      "micro4": run(GPT, **sharded, microbatches=4),
      "remat_block": run(GPT, **sharded, remat="block"),
      "remat_full": run(GPT, **sharded, remat="full"),
      "bf16": run(GPT, **sharded, precision="bf16"),
    }
  json.dump(out, sys.stdout)
  print()


if __name__ == "__main__":
  main(sys.argv[1:])
