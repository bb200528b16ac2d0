"""Per-epoch cost of the experiment trackers (logging.trackers).

  python benchmarks/tracking_overhead.py                       # tiny model, 6 epochs
  python benchmarks/tracking_overhead.py --epochs 10 --plots   # + figures as images
  python benchmarks/tracking_overhead.py --trackers mlflow --config configs/default.py

Trains once per tracker with the driver's on_event hook wrapped in a timer,
so the numbers are the time the training loop waits for the tracker: the
first event (opening the run, logging the config), each later on_epoch_end
(scalars, plus images with --plots), and the end (close). The epoch time of
the same run is printed for scale.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def timed(hook, out):
  def wrapped(moment, payload, context):
    t0 = time.perf_counter()
    hook(moment, payload, context)
    out.append((moment, time.perf_counter() - t0))
  return wrapped


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("--config", default="configs/default.py:tiny")
  ap.add_argument("--trackers", default="tensorboard,mlflow,wandb")
  ap.add_argument("--epochs", type=int, default=6)
  ap.add_argument("--plots", action="store_true",
                  help="logging.make_plots=True (figures sent as images)")
  args = ap.parse_args()
  from benchmarks.train_throughput import load_config
  from thesis_jax.monitoring import figure_hook
  from thesis_jax.tracking import tracker_hook
  from thesis_jax.train.driver import train
  os.environ.setdefault("WANDB_MODE", "offline")
  root = tempfile.mkdtemp(prefix="trk_bench_")
  print(f"config {args.config}, {args.epochs} epochs, plots {args.plots}, "
        f"output {root}")
  print(f"{'tracker':<12}{'first event':>13}{'per epoch':>12}{'max epoch':>12}"
        f"{'close':>9}{'epoch time':>12}   [ms]")
  for name in args.trackers.split(","):
    cfg = load_config(args.config)
    cfg.logging.output_root = root
    cfg.logging.progress = False
    cfg.logging.make_plots = bool(args.plots)
    cfg.logging.trackers = name
    cfg.phase1.trainer.epochs = args.epochs
    calls = []
    th = timed(tracker_hook(cfg), calls)
    fig = figure_hook(cfg.logging)

    def hook(moment, payload, context):
      if fig is not None:
        fig(moment, payload, context)
      th(moment, payload, context)
    res = train(cfg, on_event=hook)
    epochs = [t for m, t in calls if m == "on_epoch_end"]
    first = calls[0][1]          # on_start: open the run, log the config
    rest = epochs[1:]            # epoch 0 may still pay one-off imports
    ep_time = statistics.median(res.histories["epoch_time_s"][1:])
    print(f"{name:<12}{1e3 * first:>13.1f}{1e3 * statistics.median(rest):>12.1f}"
          f"{1e3 * max(rest):>12.1f}{1e3 * calls[-1][1]:>9.1f}"
          f"{1e3 * ep_time:>12.1f}")


if __name__ == "__main__":
  main()
