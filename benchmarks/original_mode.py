"""Original mode vs thesis-ml's own runs on the CMS file (no torch needed).

  python benchmarks/original_mode.py                  # none/linear/vq x seeds 1-3, 20 epochs
  python benchmarks/original_mode.py --latent vq --seeds 1 --epochs 5

Trains `configs/default.py:original` from scratch on tests/data/cms_hzz_tokens.h5
and prints, per latent space and seed, min val loss, min val rec_tokens and the
final (last-epoch) val perplexity next to the nine thesis-ml runs of the same
setup (the reference table below, from their facts: the original at its spec
commit, torch 2.13 CPU, defaults + 20 epochs, seeds 1-3). rec_globals is not
compared separately: in this mode val loss ~ rec_globals (raw MET in GeV^2).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

# thesis-ml runs (min over 20 epochs of val histories; perplexity: last epoch).
ORIGINAL = {
    "none": {"val_loss": (538.8, 557.1, 538.0), "rec_tokens": (0.169, 0.289, 0.121),
             "perplex": (None, None, None)},
    "linear": {"val_loss": (520.8, 543.1, 532.7), "rec_tokens": (0.417, 0.317, 0.500),
               "perplex": (None, None, None)},
    "vq": {"val_loss": (575.8, 577.7, 570.7), "rec_tokens": (0.935, 0.880, 0.850),
           "perplex": (1.44, 1.65, 1.66)},
}


def run_one(latent: str, seed: int, epochs: int, out: str):
  import thesis_jax
  from thesis_jax import config_files
  c, _ = config_files.load("default:original")
  c.data.path = os.path.join(ROOT, "tests", "data", "cms_hzz_tokens.h5")
  c.phase1.latent_space.name = latent
  c.phase1.trainer.update(epochs=epochs, seed=seed)
  c.logging.update(output_root=out, progress=False, save_artifacts=False)
  c.experiment.name = f"orig_{latent}_seed{seed}"
  h = thesis_jax.train_model(c).histories
  perp = (h.get("perplex") or [None])[-1]
  return {"val_loss": min(h["val_loss"]), "rec_tokens": min(h["rec_tokens"]),
          "perplex": perp if latent == "vq" else None}   # 0 by convention


def fmt(vals):
  return " / ".join("-" if v is None else f"{v:.3g}" for v in vals)


def ms(vals):
  import numpy as np
  return f"{np.mean(vals):.3g} +- {np.std(vals, ddof=1):.2g}"


def welch_p(a, b) -> str:
  """Two-sided p-value of Welch's t-test (equal means?), if scipy is there."""
  try:
    from scipy.stats import ttest_ind
  except ImportError:
    return "(no scipy)"
  if len(a) < 2 or len(b) < 2:
    return "-"
  return f"{ttest_ind(a, b, equal_var=False).pvalue:.2f}"


def main():
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--latent", default="none,linear,vq")
  ap.add_argument("--seeds", default="1,2,3")
  ap.add_argument("--epochs", type=int, default=20)
  args = ap.parse_args()
  seeds = [int(s) for s in args.seeds.split(",")]
  rows = []
  with tempfile.TemporaryDirectory() as out:
    for latent in args.latent.split(","):
      got = [run_one(latent, s, args.epochs, out) for s in seeds]
      rows.append((latent, got))
      print(f"{latent}: " + "; ".join(
          f"seed {s}: loss {g['val_loss']:.4g}, rec_tokens {g['rec_tokens']:.3g}, "
          f"perplex {g['perplex']}" for s, g in zip(seeds, got)), flush=True)
  print(f"\n| latent | metric | thesis-ml seeds 1/2/3 | original mode seeds "
        f"{'/'.join(map(str, seeds))} | mean +- std: thesis-ml / original mode "
        "| Welch t-test p |")
  print("|---|---|---|---|---|---|")
  for latent, got in rows:
    for key, name in (("val_loss", "min val loss"), ("rec_tokens", "min val rec_tokens"),
                      ("perplex", "final perplexity")):
      ref, mine = ORIGINAL[latent][key], [g[key] for g in got]
      if None in ref or None in mine:
        print(f"| {latent} | {name} | {fmt(ref)} | {fmt(mine)} | - | - |")
        continue
      print(f"| {latent} | {name} | {fmt(ref)} | {fmt(mine)} | {ms(ref)} / "
            f"{ms(mine)} | {welch_p(ref, mine)} |")

if __name__ == "__main__":
  main()
