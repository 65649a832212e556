"""`scalezoo export`: a model's inference function as one file: ONNX (jax2onnx) or jax.export."""

from __future__ import annotations

from scalezoo.cli.common import UsageError, model_options, torch_missing


def add(sub) -> None:
  p = sub.add_parser("export", help="a model's inference function as one file: ONNX (jax2onnx) or jax.export")
  p.add_argument("model")
  p.add_argument("src", help="a finished run's folder, or a reference weights file (as scalezoo convert reads it)")
  p.add_argument("out")
  p.add_argument("--format", choices=["onnx", "jax"], default="onnx")
  p.add_argument("--source", help="for a weights file: torchvision or huggingface")
  p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a model option (model_args)")


def run(args) -> int:
  from scalezoo import zoo
  from scalezoo.data import atomic
  from scalezoo.train import convert as C

  model_args = model_options(args.set)
  try:
    model_args = {**zoo.weights.reference_overrides(args.model), **model_args}
    variables = C.read_variables(args.model, args.src, args.source, model_args)
    model, example = zoo.create(args.model, **model_args), zoo.example_input(args.model, 1, **model_args)
  except ValueError as e:
    raise UsageError(str(e)) from None
  except ImportError as e:  # a .pt/.pth/.bin file needs torch
    raise torch_missing(e) from None
  if args.format == "onnx":
    from scalezoo.train import onnx_export

    try:
      blob = onnx_export.export_model(model, variables, example, args.model)
    except ImportError as e:
      raise UsageError(f"{e.name} is not installed: the ONNX export needs `make test-ci`'s reference extra") from None
  else:
    from scalezoo.train import export

    blob = export.export_model(model, variables, example)
  atomic.write_atomic(args.out, blob)
  print(f"{args.model}: wrote {args.out} ({args.format}, {len(blob):,} bytes)")
  return 0
