#!/usr/bin/env bash
# The device check for the day a GPU or TPU is at hand (the project passes without one; nothing else runs this).
#   scripts/device_check.sh            # ~10 min on one H100; writes results/bench/<device>/
# 1. the device-relevant tests on the accelerator (mesh placement and equality, MFU, the activation proofs);
# 2. ladder rung 1's shape (configs/ladder/gpt.toml: 384x6, batch 64 x 1,024 tokens, bf16) trained for 200 steps on
#    a BPE corpus of Python's standard library, and its record's step time and MFU beside what `scalezoo plan`
#    predicts for that step on this many devices at MFU 0.4.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
export JAX_PLATFORMS=""  # the accelerator, not tests/conftest.py's CPU default
dev=$($PY -c "import jax; print(jax.devices()[0].device_kind.replace(' ', '_'))")
n=$($PY -c "import jax; print(jax.device_count())")
out=results/bench/$dev
mkdir -p "$out"
echo "device: $dev x $n -> $out"

$PY -m pytest tests/test_mesh.py tests/test_mfu.py -q -n 0 2>&1 | tee "$out/tests.log"

corpus=${CORPUS:-/tmp/scalezoo_device_check_corpus}
if [ ! -f "$corpus/index.json" ]; then
  stdlib=$($PY -c "import sysconfig; print(sysconfig.get_paths()['stdlib'])")
  .venv/bin/scalezoo tokenize "$stdlib" --out "$corpus" --tokenizer bpe --vocab 32768
fi
rung=(--set model_args.d_model=384 --set model_args.n_layers=6 --set model_args.n_heads=6 --set model_args.vocab=32768
  --set model_args.context=1024 --set data_args.context=1024 --set "data_args.path=$corpus" --set batch_size=64
  --set steps=200 --set eval_every=50 --set eval_examples=256 --set checkpoint_every=0)
rm -rf "$out/rung1"
.venv/bin/scalezoo train configs/gpt_tokens.toml "${rung[@]}" --out "$out/rung1" 2>&1 | tee "$out/train.log"
.venv/bin/scalezoo plan configs/gpt_tokens.toml "${rung[@]}" --chip cpu --chips "$n" > "$out/plan.txt"
$PY - "$out" "$n" <<'PY'
import json, sys
from pathlib import Path
out, n = Path(sys.argv[1]), int(sys.argv[2])
rec = json.loads((out / "rung1" / "record.json").read_text())
got = {k: rec.get(k) for k in ("step_time", "flops_per_step", "model_flops_per_device", "peak_flops", "mfu")}
got["predicted_step_time_at_mfu_0.4"] = rec["flops_per_step"] / (n * rec["peak_flops"] * 0.4) if rec.get("peak_flops") else None
(out / "device_check.json").write_text(json.dumps(got, indent=1) + "\n")
print(json.dumps(got, indent=1))
PY
