"""Report speed: reading facts of a 27-run x 50-epoch sweep, and inference.

  python benchmarks/report_throughput.py                  # read facts only
  python benchmarks/report_throughput.py --report         # + both reports
  python benchmarks/report_throughput.py --inference      # + inference events/s
                                                          # (inference_throughput.py)

Writes the synthetic sweep of `compare_globals_heads` (latent space x
globals_beta {0,1,10} x seed {0,1,2}, 50 epochs, VQ runs with 512-code
`code_counts` per epoch) with `FactsWriter` (no training) in the original's
layout (`multiruns/exp_*` + `runs/run_*_job{N}`), then times
`load_runs(sweep_dir)` (best of --repeat, cold first read reported too).
Target: < 5 s for 27 runs x 50 epochs.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

STAMP, NAME = "20260101-000000", "compare_globals_heads"


def make_sweep(root: str, epochs: int = 50, seeds=(0, 1, 2)) -> str:
  """Writes 3 x 3 x len(seeds) fake runs; returns the sweep folder."""
  from thesis_jax.facts.fake_runs import original_config, write_fake_run
  sweep = os.path.join(root, "multiruns", f"exp_{STAMP}_{NAME}")
  os.makedirs(sweep, exist_ok=True)
  job = 0
  base = {"none": 0.05, "linear": 0.08, "vq": 0.30}
  speed = {"none": 14000.0, "linear": 13500.0, "vq": 11000.0}
  for ls in ("none", "linear", "vq"):
    for beta in (0.0, 1.0, 10.0):
      for seed in seeds:
        rng = np.random.default_rng(job)
        e = np.arange(epochs)
        tok = base[ls] * (1 + 4 * np.exp(-e / 8)) * (1 + 0.05 * rng.standard_normal())
        tok *= 1 + 0.02 * beta                      # globals weight costs tokens
        glob = 1.0 / (1 + beta * (1 - np.exp(-e / 10))) + 0.02
        glob = glob * (1 + 0.03 * rng.standard_normal(epochs))
        if beta == 0:
          glob = np.full(epochs, 1.3) * (1 + 0.02 * rng.standard_normal(epochs))
        val = tok + beta * glob + 0.003 * rng.standard_normal(epochs)
        hist = {"rec_tokens": tok.tolist(), "rec_globals": glob.tolist(),
                "commit": (0.01 * tok if ls == "vq" else np.zeros(epochs)).tolist(),
                "codebook": [0.0] * epochs,
                "perplex": ((180 + 40 * rng.random() - 100 * np.exp(-e / 5)).tolist()
                            if ls == "vq" else [None] * epochs)}
        ov = [f"phase1/latent_space={ls}", f"phase1.decoder.globals_beta={beta:g}",
              f"phase1.trainer.seed={seed}", f"phase1.trainer.epochs={epochs}"]
        write_fake_run(
            os.path.join(root, "runs", f"run_{STAMP}_{NAME}_job{job}"),
            val_loss=val.tolist(), histories=hist,
            epoch_time_s=float(20000 / speed[ls] * (1 + 0.1 * rng.random())),
            throughput=speed[ls] * (1 + 0.05 * rng.standard_normal()),
            config=original_config(ls, beta, seed, epochs),
            overrides=ov, layout="original", seed=seed,
            code_counts=512 if ls == "vq" else 0)
        job += 1
  return sweep


def bench_read(sweep: str, repeat: int) -> dict:
  from thesis_jax.facts.readers import load_runs
  times = []
  for _ in range(repeat):
    t0 = time.perf_counter()
    runs = load_runs(sweep_dir=sweep)
    times.append(time.perf_counter() - t0)
  return {"runs": len(runs.summary), "epochs": int(runs.per_epoch.groupby(
      "run_dir").size().max()), "first_s": times[0], "best_s": min(times)}


def bench_inference(n_events: int) -> None:
  """Runs benchmarks/inference_throughput.py (the inference module's own
  benchmark: the report's Scorer on the default model)."""
  here = os.path.dirname(os.path.abspath(__file__))
  script = os.path.join(here, "inference_throughput.py")
  try:
    import thesis_jax.reports.inference  # noqa: F401
  except ImportError as e:
    print(f"inference: module unavailable ({e}); skipped")
    return
  if not os.path.exists(script):
    print("inference: benchmarks/inference_throughput.py missing; skipped")
    return
  import subprocess
  print("inference (default VQ model, synthetic events):", flush=True)
  subprocess.run([sys.executable, script, "--events", str(n_events)],
                 cwd=os.path.dirname(here), check=False)


def main():
  ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  ap.add_argument("--epochs", type=int, default=50)
  ap.add_argument("--repeat", type=int, default=3)
  ap.add_argument("--report", action="store_true", help="also build both reports")
  ap.add_argument("--inference", action="store_true")
  ap.add_argument("--events", type=int, default=100000)
  ap.add_argument("--keep", default="", help="write the sweep here and keep it")
  a = ap.parse_args()
  root = a.keep or tempfile.mkdtemp(prefix="report_bench_")
  t0 = time.perf_counter()
  sweep = make_sweep(root, a.epochs)
  print(f"wrote 27 runs x {a.epochs} epochs in {time.perf_counter() - t0:.1f} s: {sweep}")
  r = bench_read(sweep, a.repeat)
  print(f"load_runs: {r['runs']} runs x {r['epochs']} epochs: first read "
        f"{r['first_s']:.3f} s, best of {a.repeat} {r['best_s']:.3f} s "
        f"(target < 5 s)")
  if a.report:
    from thesis_jax.reports import run_report
    for mod in ("compare_tokenizers", "compare_globals_heads"):
      cfg = __import__(f"configs.reports.{mod}", fromlist=["get_config"]).get_config()
      cfg.inputs.sweep_dir = sweep
      t0 = time.perf_counter()
      res = run_report(cfg)
      print(f"report {mod}: {time.perf_counter() - t0:.2f} s -> {res.report_dir}")
  if a.inference:
    bench_inference(a.events)


if __name__ == "__main__":
  main()
