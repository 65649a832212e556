"""`scalezoo generate`: text from a Hugging Face folder's model or a trained run's, greedy or sampled (zoo.generate,
KV cache). A run's text codec is its data's (data/text_codec.py: bytes, or its corpus's tokenizer)."""

from __future__ import annotations

from pathlib import Path

from scalezoo.cli.common import UsageError


def add(sub) -> None:
  p = sub.add_parser("generate", help="continue a prompt with a Hugging Face folder's model or a trained LM run's")
  p.add_argument("folder", help="a Hugging Face model folder (config.json, safetensors, tokenizer.json: llama family) "
                 "or a finished run's folder (record.json, checkpoints/: gpt or llama on text)")  # fmt: skip
  p.add_argument("--prompt", required=True)
  p.add_argument("--max-new-tokens", type=int, default=32)
  p.add_argument("--temperature", type=float, default=0.0, help="0 (default): greedy")
  p.add_argument("--top-k", type=int)
  p.add_argument("--seed", type=int, default=0)


def _model_and_codec(folder: str):
  from scalezoo import zoo
  from scalezoo.data.text_codec import codec, tokenizer_codec
  from scalezoo.train import convert as C

  if C.hf_folder(folder):
    model, variables = zoo.load_pretrained(folder)
    return model, variables, tokenizer_codec(zoo.load_tokenizer(folder))
  if (Path(folder) / "record.json").is_file():
    model, variables, rec = C.load_run(folder)
    cfg = rec["config"]
    return model, variables, codec(cfg["data"], cfg.get("data_args") or {}, rec.get("data_info") or {})
  raise ValueError(f"{folder!r}: neither a Hugging Face folder (config.json) nor a run's folder (record.json)")


def run(args) -> int:
  from scalezoo import zoo

  try:
    model, variables, text = _model_and_codec(args.folder)
    ids = text.encode(args.prompt)
    if not ids:
      raise ValueError("the prompt encodes to no tokens")
    out = zoo.generate(model, variables, ids, args.max_new_tokens, args.temperature, args.top_k, args.seed)
  except ValueError as e:
    raise UsageError(str(e)) from None
  print(text.decode([int(i) for i in out[len(ids) :]]))
  return 0
