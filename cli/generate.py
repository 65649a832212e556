"""`scalezoo generate`: text from a Hugging Face folder's model, greedy or sampled (zoo.generate, KV cache)."""

from __future__ import annotations

from scalezoo.cli.common import UsageError


def add(sub) -> None:
  p = sub.add_parser("generate", help="continue a prompt with a Hugging Face folder's model (llama family)")
  p.add_argument("folder", help="a Hugging Face model folder: config.json, safetensors, tokenizer.json")
  p.add_argument("--prompt", required=True)
  p.add_argument("--max-new-tokens", type=int, default=32)
  p.add_argument("--temperature", type=float, default=0.0, help="0 (default): greedy")
  p.add_argument("--top-k", type=int)
  p.add_argument("--seed", type=int, default=0)


def run(args) -> int:
  from scalezoo import zoo

  try:
    model, variables = zoo.load_pretrained(args.folder)
    tok = zoo.load_tokenizer(args.folder)
    ids = tok.encode(args.prompt).ids
    if not ids:
      raise ValueError("the prompt encodes to no tokens")
    out = zoo.generate(model, variables, ids, args.max_new_tokens, args.temperature, args.top_k, args.seed)
  except ValueError as e:
    raise UsageError(str(e)) from None
  print(tok.decode([int(i) for i in out[len(ids) :]]))
  return 0
