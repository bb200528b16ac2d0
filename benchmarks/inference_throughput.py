"""Inference throughput: jitted batched forward pass + per-event scores.

  python benchmarks/inference_throughput.py                  # default model, 100k events
  python benchmarks/inference_throughput.py --batch_sizes 64,256,1024 --threads 1
  python benchmarks/inference_throughput.py --train_epochs 1 # trained 1 epoch first
  python benchmarks/inference_throughput.py --config configs/default.py --set phase1.latent_space.name=none

The model of `--config` (default: configs/default.py, the thesis VQ model) is
freshly initialised (the cost of a forward pass does not depend on the weight
values) or, with `--train_epochs N`, trained N epochs on 20k synthetic events
and restored from its checkpoint like a report does. It then scores
`--events` synthetic events (normalised with the model's statistics) through
`thesis_jax.train.batched.Scorer`, the code path the report uses.
Batch size, batches per call and host threads default to the report's
(configs/reports/inference_defaults.py). Prints compile time (once per
shape), events/s per batch size (best of `--repeats` passes, compile
excluded), CPU seconds per wall second (how many cores worked) and the load
average (other processes on the machine).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from thesis_jax.config_tools import split_list  # noqa: E402


def build(config, train_epochs: int, tmp: str):
  """-> (score_step, state, norm) for the config's model."""
  import jax
  import thesis_jax
  from thesis_jax.data import synthetic
  from thesis_jax.data.normalization import Normalizer
  from thesis_jax.train.loops import LOOPS
  from thesis_jax.train.restore import DatasetInfo, load_run
  if train_epochs > 0:
    config.phase1.trainer.epochs = train_epochs
    config.logging.output_root = tmp
    config.logging.progress = False
    res = thesis_jax.train_model(config)
    run = load_run(res.run_dir)
    return run.loop.score_step, run.state, run.norm
  norm = Normalizer.fit(synthetic.make_events(20_000, int(config.data.n_tokens), 0),
                        bool(config.data.normalize_globals))
  info = DatasetInfo(synthetic.NUM_TYPES, int(config.data.n_tokens), norm)
  loop = LOOPS[config.loop].build(config, info)
  return loop.score_step, loop.init_state(jax.random.PRNGKey(0), info), norm


def main():
  from configs.reports.inference_defaults import inference_config
  d = inference_config()
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--config", default="configs/default.py")
  ap.add_argument("--events", type=int, default=100_000)
  ap.add_argument("--batch_sizes", default=str(d.batch_size))
  ap.add_argument("--steps_per_dispatch", type=int, default=d.steps_per_dispatch)
  ap.add_argument("--repeats", type=int, default=3)
  ap.add_argument("--threads", type=int, default=d.host_threads,
                  help="host threads dispatching calls concurrently")
  ap.add_argument("--cpu_devices", type=int, default=0,
                  help="> 0: split the CPU into this many JAX devices "
                       "(jax_num_cpu_devices) and shard each batch over them")
  ap.add_argument("--train_epochs", type=int, default=0)
  ap.add_argument("--set", action="append", default=[],
                  help="extra dotted overrides key=value (python literal)")
  ap.add_argument("--json", default="", help="also write results to this file")
  args = ap.parse_args()

  import jax
  if args.cpu_devices > 0:
    jax.config.update("jax_num_cpu_devices", args.cpu_devices)
  from benchmarks.train_throughput import load_config
  from thesis_jax.data import synthetic
  from thesis_jax.train.batched import Scorer
  from thesis_jax.config_tools import apply_assignments

  c = load_config(args.config)
  c.data.path = ""
  apply_assignments(c, args.set)
  with tempfile.TemporaryDirectory() as tmp:
    score_step, state, norm = build(c, args.train_epochs, tmp)
  ev = norm.apply(synthetic.make_events(args.events, int(c.data.n_tokens), 7))
  results = []
  for b in [int(x) for x in split_list(args.batch_sizes)]:
    scorer = Scorer(score_step, state, batch_size=b, steps=args.steps_per_dispatch,
                    threads=args.threads)
    scorer.compile(ev)
    best, cpu = float("inf"), float("inf")
    for _ in range(args.repeats):
      t, c0 = time.perf_counter(), time.process_time()
      scores = scorer(ev)
      dt = time.perf_counter() - t
      if dt < best:
        best, cpu = dt, time.process_time() - c0
    results.append({"batch_size": b, "compile_s": round(scorer.compile_s, 2),
                    "events_per_s": round(args.events / best),
                    "cpu_s_per_wall_s": round(cpu / best, 2),
                    "mean_mse": float(scores["mse"].mean())})
    print(f"batch {b:6d}: {args.events / best:10.0f} events/s   "
          f"compile {scorer.compile_s:5.2f} s   cpu/wall {cpu / best:4.2f}   "
          f"({args.events} events, best of {args.repeats}, load "
          f"{os.getloadavg()[0]:.1f})", flush=True)
  out = {"device": f"{jax.device_count()}x {jax.devices()[0].device_kind}",
         "threads": args.threads,
         "config": args.config, "overrides": args.set, "loop": c.loop,
         "latent_space": c.phase1.latent_space.name, "events": args.events,
         "trained_epochs": args.train_epochs, "results": results}
  if args.json:
    with open(args.json, "w") as f:
      json.dump(out, f, indent=2)


if __name__ == "__main__":
  main()
