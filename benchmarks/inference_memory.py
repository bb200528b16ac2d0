"""Peak resident memory of an inference report on a large HDF5 file.

  python -m experiments.make_synthetic --events 2000000 --out /tmp/inf2m.h5 --compression lzf
  python benchmarks/inference_memory.py --data /tmp/inf2m.h5
  python benchmarks/inference_memory.py --data /tmp/inf2m.h5 --run_dir outputs/runs/run_...

Without --run_dir a tiny model (configs/default.py:tiny) is first trained for
one epoch on a 20k-event synthetic file in --tmp (a separate process), so the
run's own data is small. The measured process then runs `run_inference` on
that run with `inference.data_path=--data`: the model-free baselines are
fitted on the whole train split of --data and the `--split` split is scored
clean and with the `--strategies` corruptions. Prints the events scored, the
wall time and the peak resident memory (ru_maxrss) of that process.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import resource
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def train_tiny(tmp: str) -> str:
  """Trains the tiny model 1 epoch on 20k synthetic events -> run folder."""
  small = os.path.join(tmp, "train20k.h5")
  env = dict(os.environ, PYTHONPATH=ROOT)
  if not os.path.exists(small):
    subprocess.run([sys.executable, "-m", "experiments.make_synthetic",
                    "--events", "20000", "--out", small], cwd=ROOT, env=env,
                   check=True)
  out = os.path.join(tmp, "runs")
  subprocess.run([sys.executable, "-m", "experiments.train", "--config",
                  "configs/default.py:tiny", f"--config.data.path={small}",
                  "--config.phase1.trainer.epochs=1",
                  f"--config.logging.output_root={out}",
                  "--config.logging.progress=False"], cwd=ROOT, env=env,
                 check=True, stdout=subprocess.DEVNULL)
  return sorted(glob.glob(os.path.join(out, "runs", "run_*")) or
                glob.glob(os.path.join(out, "run_*")))[-1]


def main():
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--data", required=True, help="large HDF5 file (X_train/X_val/X_test)")
  ap.add_argument("--run_dir", default="")
  ap.add_argument("--tmp", default="/tmp/inference_memory")
  ap.add_argument("--split", default="test")
  ap.add_argument("--strategies", default="gaussian_noise=0.1",
                  help="name=s1,s2;name=s ... (the others are skipped)")
  ap.add_argument("--bootstrap", type=int, default=20)
  ap.add_argument("--block_rows", type=int, default=0,
                  help="inference.block_rows when the code has it (0: run's)")
  a = ap.parse_args()
  os.makedirs(a.tmp, exist_ok=True)
  run_dir = a.run_dir or train_tiny(a.tmp)
  sys.path.insert(0, ROOT)
  from configs.reports.inference_defaults import inference_config
  from thesis_jax.reports.inference import run_inference
  c = inference_config()
  c.enabled, c.split, c.data_path, c.bootstrap = True, a.split, a.data, a.bootstrap
  c.strategies = {k: () for k in c.strategies}
  for part in filter(None, a.strategies.split(";")):
    name, vals = part.split("=")
    c.strategies[name] = tuple(float(v) for v in vals.split(","))
  if "block_rows" in c and a.block_rows:
    c.block_rows = a.block_rows
  rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
  t = time.perf_counter()
  s = run_inference([{"run_dir": run_dir, "kind": "thesis_jax"}], c,
                    os.path.join(a.tmp, "report"))
  wall = time.perf_counter() - t
  e = s["runs"][0]
  print(json.dumps({
      "run_dir": run_dir, "data": a.data, "split": a.split,
      "n_events": e.get("n_events"), "wall_s": round(wall, 1),
      "events_per_s": round(e.get("events_per_s") or 0),
      "peak_rss_mb_before_inference": round(rss0),
      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
      "clean": e.get("clean"),
      "auroc": {f"{r['strategy']}@{r['strength']}": r["auroc"]
                for r in e.get("anomaly", [])}}, indent=1))


if __name__ == "__main__":
  main()
