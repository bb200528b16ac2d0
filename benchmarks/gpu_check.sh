#!/usr/bin/env bash
# GPU path check used on a lent accelerator (see README "GPU"):
#   bash benchmarks/gpu_check.sh OUTDIR
# Trains the smoke config through the CLI on the GPU, then runs the
# throughput benchmark at batch 128 and 4096 (100k synthetic events).
set -uo pipefail
out=${1:-/tmp/gpu_check}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
python3 -c "import jax; print('jax', jax.__version__, jax.devices())"
python3 -m experiments.train --config configs/default.py:smoke \
  --config.logging.output_root="$out/runs_out" --config.experiment.name=gpu_smoke 2>&1 | tail -5
python3 - "$out" <<'PY'
import glob, json, sys
ev = [json.loads(l) for l in open(glob.glob(sys.argv[1] + "/runs_out/runs/*/facts/events.jsonl")[0])]
e = [x for x in ev if x["moment"] == "on_epoch_end"][-1]
print("cuda_info", e["meta"]["cuda_info"], "max_memory_mib", e["max_memory_mib"])
PY
python3 benchmarks/train_throughput.py --batch_size 128 --epochs 3 --json "$out/bench_b128.json"
python3 benchmarks/train_throughput.py --batch_size 4096 --epochs 4 --json "$out/bench_b4096.json"
