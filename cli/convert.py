"""`scalezoo convert`: reference weights (torchvision, Hugging Face) <-> zoo variables."""

from __future__ import annotations

from scalezoo.cli.common import UsageError, model_options, torch_missing


def add(sub) -> None:
  p = sub.add_parser("convert", help="reference weights and Hugging Face folders <-> zoo variables")
  p.add_argument("model", help="the zoo model, or a Hugging Face folder (then: convert FOLDER DST)")
  p.add_argument(
    "src", help="a .safetensors/.pt/.pth/.bin state dict, a Hugging Face folder, or a finished run's folder"
  )
  p.add_argument(
    "dst", nargs="?", help="a state dict (.safetensors, .pt, .pth), zoo variables (.msgpack) or, for llama, a folder"
  )
  p.add_argument("--source", help="torchvision or huggingface (default: the model's one source)")
  p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a model option (model_args)")


def run(args) -> int:
  from scalezoo.train import convert as C

  model_args = model_options(args.set)
  model, src, dst = args.model, args.src, args.dst
  if dst is None:  # convert FOLDER DST: a Hugging Face folder names its model in config.json
    if not C.hf_folder(model):
      raise UsageError(
        f"{model!r}: with two arguments the first is a Hugging Face folder (config.json); else MODEL SRC DST"
      )
    model, src, dst = "llama", model, src
  try:
    print(C.convert(model, src, dst, source=args.source, model_args=model_args))
  except ValueError as e:  # a wrong model, source, file or shape: bad input
    raise UsageError(str(e)) from None
  except ImportError as e:  # a .pt/.pth/.bin file needs torch
    raise torch_missing(e) from None
  return 0
