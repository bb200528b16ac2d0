"""Inference and anomaly detection for reports.

  from thesis_jax.reports.inference import run_inference
  summary = run_inference(runs, config.inference, out_dir)

`runs`: dicts with at least `run_dir` and `kind` ('thesis_jax' | 'original').
Figures go to `{out_dir}/figures/`; the returned summary is JSON-serialisable
(NaN/inf -> null) and the caller writes it to `{out_dir}/summary.json`.
Options: configs/reports/inference_defaults.py.
"""
from __future__ import annotations

import os
from typing import Dict, List

from thesis_jax.facts.schema import json_safe
from thesis_jax.reports.inference import corruptions, figures, metrics  # noqa: F401
from thesis_jax.reports.inference.corruptions import CORRUPTIONS  # noqa: F401
from thesis_jax.reports.inference.run import (SHUFFLE_NOTE, anomaly_file_list,
                                              evaluate_run, read_anomaly_files,
                                              strategy_list)

ORIGINAL_NOTE = ("original PyTorch run not imported: no thesis_jax checkpoint "
                 "to load, so inference is skipped (its training facts are still "
                 "reported); `thesis-jax import_original --run_dir "
                 "<run>` converts its best_val.pt/last.pt")


def has_checkpoint(run_dir: str) -> bool:
  """A thesis_jax run, or an original one converted by import_original."""
  return (os.path.isdir(os.path.join(run_dir, "checkpoints"))
          and os.path.exists(os.path.join(run_dir, "cfg.yaml")))


def _label(run: Dict) -> str:
  base = os.path.basename(os.path.normpath(run["run_dir"]))
  tok = run.get("tokenizer")
  return f"{base} [{tok}]" if tok else base


def run_inference(runs: List[Dict], inference_cfg, out_dir: str) -> Dict:
  """Scores every run in `runs` with a thesis_jax checkpoint (thesis_jax runs
  and original runs converted by `thesis-jax import_original`) -> summary:

  {"split", "score", "seed", "max_events", "strategies" {name: [strengths]},
   "anomaly_files" [paths], "runs" [per-run entries], "figures" [paths],
   "notes" [str]}. A per-run entry holds `clean` (mean scores), `events_per_s`,
  `compile_s`, `permutation_check` and `anomaly` (one record per strategy and
  strength or file: auroc, auroc_by_score, eps_b_30/50, rejection_30/50,
  roc {eps_s, eps_b}, ...), or `skipped: true` and a `note`.
  """
  cfg = inference_cfg
  fig_dir = os.path.join(out_dir, "figures")
  os.makedirs(fig_dir, exist_ok=True)
  strategies = strategy_list(cfg)
  files = anomaly_file_list(cfg)
  read_anomaly_files(cfg)           # fail fast: missing files, no dataset
  summary = {"split": str(cfg.split), "score": str(cfg.score),
             "seed": int(cfg.seed), "max_events": int(cfg.max_events),
             "checkpoint": str(cfg.get("checkpoint", "best")),
             "strategies": {n: list(s) for n, s in strategies},
             "anomaly_files": files, "runs": [], "figures": [], "notes": []}
  labels = figures.unique_labels([_label(r) for r in runs])
  per_run, latents, invariant = {}, {}, []
  for run, label in zip(runs, labels):
    kind = run.get("kind", "thesis_jax")
    if kind != "thesis_jax" and not has_checkpoint(run["run_dir"]):
      summary["runs"].append({"run_dir": run["run_dir"], "kind": kind,
                              "label": label, "skipped": True,
                              "note": ORIGINAL_NOTE})
      continue
    entry = evaluate_run(run["run_dir"], label, cfg, fig_dir)
    entry["kind"] = kind      # an imported original run stays 'original'
    summary["runs"].append(entry)
    summary["figures"] += entry.get("figures", [])
    if entry.get("anomaly"):
      per_run[label] = entry["anomaly"]
      latents[label] = entry["latent_space"]
      if entry["permutation_check"]["permutation_invariant"]:
        invariant.append(label)
  if any(r["kind"] == "corruption" for recs in per_run.values() for r in recs):
    summary["figures"].append(figures.auroc_vs_strength_figure(
        os.path.join(fig_dir, "figure-auroc_vs_strength.png"), per_run,
        str(cfg.score), latents, corruptions.STRENGTH_UNITS,
        {"token_shuffle": f"{len(invariant)} of {len(per_run)} runs permutation-"
                          "invariant:\nAUROC 0.5 by construction,\na sanity "
                          "check, not a signal"} if invariant else {}))
  summary["figures"] = [os.path.relpath(p, out_dir) for p in summary["figures"]]
  for e in summary["runs"]:
    if "figures" in e:
      e["figures"] = [os.path.relpath(p, out_dir) for p in e["figures"]]
  summary["notes"] = _notes(summary, strategies)
  summary = json_safe(summary)
  summary["text"] = text_summary(summary)
  return summary


def _notes(summary: Dict, strategies) -> List[str]:
  notes = []
  evaluated = [e for e in summary["runs"] if not e.get("skipped")]
  if any(n == "token_shuffle" for n, _ in strategies) or evaluated:
    inv = [e["label"] for e in evaluated
           if e.get("permutation_check", {}).get("permutation_invariant")]
    notes.append(SHUFFLE_NOTE + (f" Permutation-invariant here: {', '.join(inv)}."
                                 if inv else ""))
    var = [e["label"] for e in evaluated if e["label"] not in inv]
    if var:
      notes.append("Not permutation-invariant (token order changes the score, "
                   f"token_shuffle is a real test): {', '.join(var)}.")
  if any(n == "met_scramble" for n, _ in strategies) and \
      summary["score"] not in ("loss", "mse_globals"):
    notes.append(f"met_scramble changes only MET: score '{summary['score']}' "
                 "has no globals term and cannot see it (AUROC 0.5); see "
                 "auroc_by_score['loss'] / ['mse_globals'].")
  notes.append("drop_tokens turns real tokens into padding, which a model "
               "reconstructs easily: an AUROC below 0.5 means the corrupted "
               "events look *more* normal to the score.")
  notes.append("baseline_* scores need no model (NLL of the token "
               "multiplicity, of the per-type token counts and of MET, from "
               "training-split histograms): a learned score is only useful "
               "where it beats them. AUROC intervals: seeded percentile "
               "bootstrap (paired for corruptions).")
  for why in sorted({e["prior_note"] for e in evaluated if e.get("prior_note")}):
    who = [e["label"] for e in evaluated if e.get("prior_note") == why]
    notes.append(f"{', '.join(who)}: {why}.")
  notes.append("Paired corruptions: a corrupted event whose score equals its "
               "clean score within inference.tie_rtol (float rounding) counts "
               "as a tie (1/2 in the AUROC).")
  skipped = [e["label"] for e in summary["runs"] if e.get("skipped")]
  if skipped:
    notes.append(f"Inference skipped for: {', '.join(skipped)}.")
  return notes


def _fmt_auc(v, ci) -> str:
  if v is None:
    return "n/a"
  if not ci or ci[0] is None:
    return f"{v:.3f}"
  return f"{v:.3f}[{ci[0]:.2f},{ci[1]:.2f}]"


def _wrap(parts: List[str], indent: str, width: int, more: str = "  "
          ) -> List[str]:
  """Joins `parts` into lines of at most `width`; continuation lines are
  indented by `more` extra spaces."""
  lines, line = [], indent
  for p in parts:
    if len(line) + len(p) + 2 > width and line.strip():
      lines.append(line.rstrip())
      line = indent + more
    line += p + "  "
  if line.strip():
    lines.append(line.rstrip())
  return lines


def text_summary(summary: Dict, width: int = 78) -> str:
  """A few lines per run: clean score, then per strategy (largest strength)
  and per anomaly file the AUROC [bootstrap interval] of every score,
  learned scores first, then the model-free baselines."""
  level = None
  for e in summary["runs"]:
    for r in e.get("anomaly", []):
      level = r.get("ci_level", level)
  lines = [f"inference on split '{summary['split']}', score "
           f"'{summary['score']}' (AUROC anomalous vs clean"
           + (f", [{100 * level:g}% bootstrap interval]" if level else "") + "):"]
  for e in summary["runs"]:
    if e.get("skipped"):
      lines.append(f"  {e['label']}: skipped ({e['note'].split(':')[0]})")
      continue
    clean = e["clean"].get(summary["score"])
    lines.append(f"  {e['label']}: {e['n_events']} events, mean "
                 f"{summary['score']} {clean if clean is None else f'{clean:.4g}'}, "
                 f"{e['events_per_s']:.0f} events/s")
    best: Dict[str, dict] = {}
    for r in e.get("anomaly", []):
      if r["kind"] == "file" or r["strategy"] not in best or \
          (r["strength"] or 0) >= (best[r["strategy"]]["strength"] or 0):
        best[r["strategy"]] = r
    for k, r in best.items():
      at = "" if r["strength"] is None else f"@{r['strength']:g}"
      by = r.get("auroc_by_score") or {summary["score"]: r["auroc"]}
      cis = r.get("auroc_ci_by_score") or {}
      order = sorted(by, key=lambda n: (n.startswith("baseline_"),
                                        n != summary["score"]))
      parts = [f"{n.replace('baseline_', 'base:')}={_fmt_auc(by[n], cis.get(n))}"
               for n in order if by[n] is not None]
      lines += _wrap([f"{k}{at}:"] + parts, "    ", width)
  return "\n".join(lines)
