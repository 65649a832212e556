"""`scalezoo tokenize`: turn a text file or folder into a token corpus (the `tokens` data set)."""

from __future__ import annotations

from scalezoo.cli.common import UsageError


def add(sub) -> None:
  p = sub.add_parser("tokenize", help="turn a text file or folder into a token corpus (the `tokens` data set)")
  p.add_argument("src", help="a text file (documents: blank-line-separated blocks) or a folder (documents: files)")
  p.add_argument("--out", required=True, help="corpus folder: index.json, shard_*.bin, documents.bin, tokenizer")
  p.add_argument("--tokenizer", choices=["bytes", "bpe"], default="bytes")
  p.add_argument("--vocab", type=int, help="BPE vocabulary size, EOS included (default 8192)")
  glob = "a name glob ('*.py') or a path glob under SRC ('docs/*.md'); repeatable"
  p.add_argument("--include", action="append", default=[], metavar="GLOB", help=f"read only these files: {glob}")
  p.add_argument("--exclude", action="append", default=[], metavar="GLOB", help=f"leave these files out: {glob}")


def run(args) -> int:
  from scalezoo.data.tokenize import tokenize

  try:
    i = tokenize(
      args.src, args.out, tokenizer=args.tokenizer, vocab=args.vocab, include=args.include, exclude=args.exclude
    )
  except ValueError as e:
    raise UsageError(str(e)) from None
  skipped = i.get("sources", {}).get("skipped", {})  # corpora written before it was kept have none
  notes = ""
  if skipped.get("binary"):
    notes += f"; {skipped['binary']} binary file(s) skipped"
  if skipped.get("excluded"):
    notes += f"; {skipped['excluded']} file(s) left out by --include/--exclude"
  print(
    f"{args.out}: {i['documents']['count']} documents, {i['tokens']:,} tokens, vocabulary {i['vocab_size']} "
    f"({i['dtype']}), {len(i['shards'])} shard(s){notes}"
  )
  return 0
