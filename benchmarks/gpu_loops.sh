#!/usr/bin/env bash
# GPU check of the graph, adversarial and diffusion loops (smoke configs):
#   bash benchmarks/gpu_loops.sh OUTDIR
set -uo pipefail
out=${1:-/tmp/gpu_loops}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
run() { python3 -m experiments.train "$@" --config.logging.output_root="$out/o" 2>&1 | grep -E "epoch|done|error"; }
run --config configs/default.py:smoke --config.phase1.encoder.name=gnn --config.phase1.decoder.name=gnn
run --config configs/default.py:smoke --config.phase1.encoder.name=set_transformer
run --config configs/gan_ae.py:smoke
run --config configs/diffusion_ae.py:smoke
python3 benchmarks/train_throughput.py --events 50000 --batch_size 1024 --epochs 3 \
  --set phase1.encoder.name=gnn --set phase1.decoder.name=gnn 2>&1 | grep -E "device|train_events"
python3 benchmarks/train_throughput.py --config configs/gan_ae.py --events 50000 --batch_size 1024 --epochs 3 2>&1 | grep -E "loop|train_events"
python3 benchmarks/train_throughput.py --config configs/diffusion_ae.py --events 50000 --batch_size 1024 --epochs 3 2>&1 | grep -E "loop|train_events"
