"""State dict files: safetensors (read and written without torch) or PyTorch's (torch.load with weights_only=True,
its restricted unpickler: tensors and plain containers only, no code)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

SUFFIXES = (".safetensors", ".pt", ".pth", ".bin")


def _kind(path: Path) -> str:
  if path.suffix not in SUFFIXES:
    raise ValueError(f"{str(path)!r}: a weights file ends in one of {', '.join(SUFFIXES)}")
  return "safetensors" if path.suffix == ".safetensors" else "torch"


def read(path: str | Path) -> dict[str, np.ndarray]:
  path = Path(path)
  kind = _kind(path)
  if not path.is_file():
    raise ValueError(f"{str(path)!r}: no such file")
  if kind == "safetensors":
    from safetensors.numpy import load_file

    return dict(load_file(path))
  import torch

  obj = torch.load(path, map_location="cpu", weights_only=True)
  if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
    raise ValueError(f"{str(path)!r}: not a state dict (a mapping of names to tensors)")
  return {k: to_numpy(v) for k, v in obj.items()}


def to_numpy(v) -> np.ndarray:
  """A torch tensor or array as numpy; bfloat16 (no numpy dtype) widened to float32, the zoo's dtype."""
  if hasattr(v, "detach"):
    import torch

    return (v.float() if v.dtype == torch.bfloat16 else v).numpy(force=True)
  return np.asarray(v)


def write(path: str | Path, state: dict[str, np.ndarray]) -> None:
  """Write atomically (a temporary file renamed into place), so an existing file is never left half-written."""
  path = Path(path)
  kind = _kind(path)
  tmp = path.with_name(f".{path.name}.tmp")
  state = {k: np.ascontiguousarray(v) for k, v in state.items()}
  if kind == "safetensors":
    from safetensors.numpy import save_file

    save_file(state, tmp)
  else:
    import torch

    torch.save({k: torch.from_numpy(v.copy()) for k, v in state.items()}, tmp)
  tmp.replace(path)
