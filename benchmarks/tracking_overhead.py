"""Cost of the experiment trackers (logging.trackers) for a training run.

  python benchmarks/tracking_overhead.py                          # default:smoke, 8 epochs
  python benchmarks/tracking_overhead.py --config default:tiny --epochs 20 --plots
  python benchmarks/tracking_overhead.py --trackers "mlflow;tensorboard,mlflow,wandb"

Trains once without trackers and once per entry of --trackers (";"-separated
sets), each twice (--reps): the first pass in a fresh output root pays the
one-off set-up (imports, MLflow's database), the second shows the steady
state. Per run it prints the time the training loop spends in the tracker
hook per epoch (median over epochs after the first), the median epoch time
(compare with the `none` row), and the wait at the end (the tracker thread
draining its queue). Last, the work each tracker does per epoch in its
background thread: one epoch's scalars logged 20 times, timed directly.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("--config", default="default:smoke")
  ap.add_argument("--trackers", default="tensorboard;mlflow;wandb;"
                  "tensorboard,mlflow,wandb")
  ap.add_argument("--epochs", type=int, default=8)
  ap.add_argument("--reps", type=int, default=2)
  ap.add_argument("--plots", action="store_true",
                  help="logging.make_plots=True (figures sent as images)")
  args = ap.parse_args()
  from thesis_jax.config_files import load
  from thesis_jax.monitoring import figure_hook
  from thesis_jax.tracking import tracker_hook
  from thesis_jax.train.driver import train
  os.environ.setdefault("WANDB_MODE", "offline")
  root = tempfile.mkdtemp(prefix="trk_bench_")
  print(f"config {args.config}, {args.epochs} epochs, plots {args.plots}, "
        f"output {root}")
  print(f"{'pass':<5}{'trackers':<28}{'hook/epoch [ms]':>16}"
        f"{'epoch [ms]':>12}{'end wait [ms]':>15}{'wall [s]':>10}")
  for rep in range(args.reps):
    for names in ["none"] + args.trackers.split(";"):
      cfg, _ = load(args.config, "train")
      cfg.logging.update(output_root=root, progress=False,
                         make_plots=bool(args.plots),
                         trackers="" if names == "none" else names)
      cfg.phase1.trainer.epochs = args.epochs
      fig, trk = figure_hook(cfg.logging), tracker_hook(cfg)
      spent = []

      def hook(moment, payload, context):
        if fig is not None:
          fig(moment, payload, context)
        t0 = time.perf_counter()
        if trk is not None:
          trk(moment, payload, context)
        spent.append((moment, time.perf_counter() - t0))
      t0 = time.perf_counter()
      res = train(cfg, on_event=hook)
      wall = time.perf_counter() - t0
      per_epoch = [t for m, t in spent if m == "on_epoch_end"][1:]
      epoch_s = res.histories["epoch_time_s"][1:]
      print(f"{rep + 1:<5}{names:<28}{1e3 * statistics.median(per_epoch):>16.2f}"
            f"{1e3 * statistics.median(epoch_s):>12.0f}"
            f"{1e3 * spent[-1][1]:>15.0f}{wall:>10.1f}", flush=True)
  direct(root, res.run_dir, sorted({n for ns in args.trackers.split(";")
                                    for n in ns.split(",")}))


def direct(root: str, run_dir: str, names) -> None:
  """Per-epoch work of each tracker (what its thread does), timed directly
  on the scalars of `run_dir`'s last epoch."""
  from thesis_jax.facts.schema import iter_events
  from thesis_jax.tracking import make_trackers
  from thesis_jax.tracking.backends import TrackerSettings
  from thesis_jax.tracking.sink import event_scalars
  last = [e for e in iter_events(run_dir) if e["moment"] == "on_epoch_end"][-1]
  scalars = event_scalars(last)
  print(f"per-epoch work in the tracker thread ({len(scalars)} scalars), "
        "median of 20 [ms]:")
  for name in names:
    s = TrackerSettings(output_root=root, experiment="direct", run_name=name,
                        tb_dir=os.path.join(root, "direct_tb"),
                        wandb_dir=os.path.join(root, "direct"))
    (t,) = make_trackers([name], s)
    t.start({"a": "1"}, {"run_dir": os.path.join(root, name)}, False)
    times = []
    for step in range(20):
      t0 = time.perf_counter()
      t.log(step, scalars)
      times.append(time.perf_counter() - t0)
    t.close("FINISHED")
    print(f"  {name:<12}{1e3 * statistics.median(times):>8.2f}", flush=True)


if __name__ == "__main__":
  main()
