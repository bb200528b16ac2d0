"""Anomaly detection on the CMS file: tokenizer + token prior vs baselines.

  python benchmarks/anomaly_prior.py --out /tmp/anomaly_prior

1. Splits tests/data/cms_hzz_tokens.h5 by a physics cut: events WITHOUT a
   b-tagged jet (type id 2) keep their train/val/test split (the "clean"
   process); every event WITH one (from all splits, never trained on) is a
   held-out anomaly sample.
2. Builds constructed anomaly samples (thesis_jax.data.synthetic): a
   resonance X -> mu mu (masses below) with 0.7 ISR jets on average, and
   the built-in synthetic multi-object process (different type mix and
   spectra). Nothing here is tuned to any sample: settings are fixed below.
3. Trains a VQ tokenizer (configs/default.py, smaller codebook for ~4k
   training tokens) and a token prior on its codes (configs/token_prior.py),
   then runs the report's inference (corruptions + anomaly files) and prints
   AUROC [95 % bootstrap interval] for every score and the baselines.

CPU-affordable: a few minutes on 2 cores. Numbers depend on the seed; the
intervals say how much.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import h5py
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
CMS = os.path.join(ROOT, "tests", "data", "cms_hzz_tokens.h5")
MASSES = (250.0, 500.0, 1000.0)
N_CONSTRUCTED = 1000


def _write(path, datasets):
  from thesis_jax.data.layout import join_rows
  with h5py.File(path, "w") as f:
    for name, ev in datasets.items():
      f[name] = join_rows(ev)
  return path


def make_samples(out: str, seed: int):
  """-> (clean file, {label: anomaly file})."""
  from thesis_jax.data import h5
  from thesis_jax.data.synthetic import make_events, make_resonance_events
  names = {"train": "X_train", "val": "X_val", "test": "X_test"}
  raw = h5.read_splits(CMS, names, 18)
  has_b = {k: (ev.ids == 2).any(1) for k, ev in raw.items()}
  clean = _write(os.path.join(out, "cms_no_btag.h5"),
                 {names[k]: ev.take(np.flatnonzero(~has_b[k]))
                  for k, ev in raw.items()})
  from thesis_jax.data.layout import Events
  b_events = [ev.take(np.flatnonzero(has_b[k])) for k, ev in raw.items()]
  b_all = Events(*(np.concatenate([getattr(e, f) for e in b_events])
                   for f in ("ids", "cont", "globals")))
  files = {"cms_with_btag": _write(os.path.join(out, "cms_with_btag.h5"),
                                   {"X_test": b_all})}
  for m in MASSES:
    files[f"resonance_{m:g}"] = _write(
        os.path.join(out, f"resonance_mumu_{m:g}GeV.h5"),
        {"X_test": make_resonance_events(N_CONSTRUCTED, 18, seed + 100, mass=m)})
  files["synthetic_process"] = _write(
      os.path.join(out, "synthetic_process.h5"),
      {"X_test": make_events(N_CONSTRUCTED, 18, seed + 200)})
  return clean, files


def main(argv=None):
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--out", default="/tmp/anomaly_prior")
  ap.add_argument("--tokenizer-epochs", type=int, default=40)
  ap.add_argument("--prior-epochs", type=int, default=20)
  ap.add_argument("--codebook", type=int, default=128)
  ap.add_argument("--seed", type=int, default=0)
  ap.add_argument("--bootstrap", type=int, default=200)
  ap.add_argument("--set", action="append", default=[],
                  help="extra KEY=VALUE for the tokenizer's config")
  args = ap.parse_args(argv)
  os.makedirs(args.out, exist_ok=True)
  import thesis_jax
  from configs.reports.inference_defaults import inference_config
  from thesis_jax.reports.inference import run_inference
  t0 = time.perf_counter()
  clean, files = make_samples(args.out, args.seed)
  tc = thesis_jax.get_config("default")
  tc.data.path = clean
  tc.logging.output_root = args.out
  tc.logging.progress = False
  tc.phase1.encoder.enc_hidden = tc.phase1.decoder.dec_hidden = (64, 64)
  tc.phase1.latent_space.update(latent_dim=16, codebook_size=args.codebook,
                                kmeans_samples=4096)
  tc.phase1.trainer.update(epochs=args.tokenizer_epochs, seed=args.seed)
  from thesis_jax.config_tools import apply_assignments
  apply_assignments(tc, list(args.set))
  tok = thesis_jax.train_model(tc)
  t_tok = time.perf_counter() - t0
  pc = thesis_jax.get_config("token_prior")
  pc.prior.tokenizer_run = tok.run_dir
  pc.logging.output_root = args.out        # next to the tokenizer run
  pc.logging.progress = False
  pc.phase1.trainer.update(epochs=args.prior_epochs, seed=args.seed)
  prior = thesis_jax.train_model(pc)
  t_prior = time.perf_counter() - t0 - t_tok
  ic = inference_config()
  ic.enabled = True
  ic.bootstrap = args.bootstrap
  ic.anomaly_files = ",".join(files.values())
  summary = run_inference([{"run_dir": tok.run_dir, "kind": "thesis_jax"}], ic,
                          os.path.join(args.out, "inference"))
  with open(os.path.join(args.out, "inference", "summary.json"), "w") as f:
    json.dump({k: v for k, v in summary.items() if k != "text"}, f, indent=1)
  print(summary["text"])
  print("\n".join(summary["notes"]))
  print(f"\ntokenizer {tok.run_dir}: best val {tok.best_val_loss:.4g} "
        f"({t_tok:.0f} s); prior {prior.run_dir}: best val NLL/token "
        f"{prior.best_val_loss:.4g} ({t_prior:.0f} s); total "
        f"{time.perf_counter() - t0:.0f} s")
  print(table(summary))


TABLE_SCORES = ("prior_nll", "prior_nll_token", "mse", "loss",
                "baseline_multiplicity", "baseline_type_counts", "baseline_met")


def table(summary, scores=TABLE_SCORES) -> str:
  """Markdown table: one row per anomaly sample, one column per score."""
  e = [r for r in summary["runs"] if not r.get("skipped")][0]
  recs = e["anomaly"]
  order = [n for n in scores if n in recs[0]["auroc_by_score"]]
  lines = ["| sample | " + " | ".join(order) + " |",
           "|---" * (len(order) + 1) + "|"]
  for r in recs:
    name = r["strategy"] + ("" if r["strength"] is None else f" @ {r['strength']:g}")
    cells = []
    for n in order:
      v, ci = r["auroc_by_score"].get(n), r["auroc_ci_by_score"].get(n)
      cells.append("n/a" if v is None else
                   f"{v:.2f} [{ci[0]:.2f}, {ci[1]:.2f}]" if ci and ci[0] is not None
                   else f"{v:.2f}")
    lines.append(f"| {name} | " + " | ".join(cells) + " |")
  return "\n".join(lines)


if __name__ == "__main__":
  main()
