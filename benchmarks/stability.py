"""Stability of training over seeds: no loss jumps mid-run.

  python benchmarks/stability.py                        # every setup, seeds 1-5 and 42
  python benchmarks/stability.py --setups default_synthetic --seeds 1,2 --epochs 10
  python benchmarks/stability.py --set phase1.latent_space.restart_dead_codes=False

Criterion (issue 10): in every run, no epoch after epoch 3 (1-based) has a
validation loss above 1.2x the run's best validation loss so far. Setups:

  default_synthetic   configs/default.py on the built-in synthetic events
  default_cms         configs/default.py on tests/data/cms_hzz_tokens.h5
  gnn_cms             the same with the gnn encoder
  set_transformer_cms the same with the set_transformer encoder

Prints one line per run (worst ratio, its epoch, per-epoch val losses) and
writes --out (JSON). Exit code 1 if any run breaks the criterion.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
CMS = os.path.join(ROOT, "tests", "data", "cms_hzz_tokens.h5")

SETUPS = {
    "default_synthetic": {},
    "default_cms": {"data.path": CMS},
    "gnn_cms": {"data.path": CMS, "phase1.encoder.name": "gnn"},
    "set_transformer_cms": {"data.path": CMS,
                            "phase1.encoder.name": "set_transformer"},
}
RATIO, AFTER = 1.2, 3


def worst_jump(val, after: int = AFTER):
  """-> (max over 1-based epochs > after of val / best-so-far, that epoch)."""
  best, worst = float("inf"), (0.0, None)
  for i, v in enumerate(val):
    best = min(best, v)
    if i + 1 > after and v / best > worst[0]:
      worst = (v / best, i + 1)
  return worst


def main() -> int:
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--setups", default=",".join(SETUPS))
  # 42 is the configs' own seed: the run a new user makes first
  ap.add_argument("--seeds", default="1,2,3,4,5,42")
  ap.add_argument("--epochs", type=int, default=0,
                  help="0: the config's (default 10); CMS setups: --cms_epochs")
  ap.add_argument("--cms_epochs", type=int, default=30)
  ap.add_argument("--set", action="append", default=[],
                  help="extra KEY=VALUE for every run")
  ap.add_argument("--out", default="")
  args = ap.parse_args()

  import thesis_jax
  from thesis_jax.config_tools import apply_assignments, split_list
  records, bad = [], 0
  with tempfile.TemporaryDirectory() as tmp:
    for setup in split_list(args.setups):
      for seed in split_list(args.seeds):
        c = thesis_jax.get_config("default")
        sets = [f"{k}={v}" for k, v in SETUPS[setup].items()]
        sets += [f"phase1.trainer.seed={seed}", f"logging.output_root={tmp}",
                 "logging.progress=False", "logging.save_artifacts=False"]
        epochs = args.cms_epochs if "cms" in setup else args.epochs
        if epochs:
          sets.append(f"phase1.trainer.epochs={epochs}")
        apply_assignments(c, sets + list(args.set))
        t0 = time.perf_counter()
        r = thesis_jax.train_model(c)
        val = [float(v) for v in r.histories["val_loss"]]
        ratio, ep = worst_jump(val)
        ok = ratio <= RATIO
        bad += not ok
        rec = {"setup": setup, "seed": int(seed), "ratio": ratio,
               "epoch": ep, "ok": ok, "val_loss": val,
               "train_loss": [float(v) for v in r.histories["train_loss"]],
               "code_usage": r.histories.get("code_usage"),
               "seconds": time.perf_counter() - t0}
        records.append(rec)
        print(f"{setup:<20} seed {seed}: worst {ratio:.3f}x best-so-far "
              f"(epoch {ep}) {'ok' if ok else 'JUMP'} | val "
              + " ".join(f"{v:.3f}" for v in val)
              + f" | {rec['seconds']:.0f}s", flush=True)
  print(f"{len(records) - bad}/{len(records)} runs within {RATIO}x of their "
        f"best-so-far val loss after epoch {AFTER}")
  if args.out:
    with open(args.out, "w") as f:
      json.dump({"criterion": {"ratio": RATIO, "after_epoch": AFTER},
                 "sets": args.set, "runs": records}, f, indent=1)
  return 1 if bad else 0


if __name__ == "__main__":
  sys.exit(main())
