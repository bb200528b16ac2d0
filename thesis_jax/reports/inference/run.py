"""Inference and anomaly detection over trained runs (report section).

`run_inference(runs, inference_cfg, out_dir) -> summary` loads each
thesis_jax run's checkpoint and normalisation, scores the chosen split
(per-event MSE/MAE over all slots and real tokens, globals MSE, loss), then
scores every configured corruption (paired with the clean events) and every
anomaly file, block by block (`stream_scores.py`: memory holds per-event
scores, not events), and reports AUROC, background rejection at eps_S = 30 %/50 %,
ROC curves and score histograms. Original PyTorch runs are scored once
converted by `thesis-jax import_original`, else skipped with a note.
"""
from __future__ import annotations

import contextlib
import math
import os
import time
from typing import Dict, List, Tuple

import numpy as np

from thesis_jax.config_tools import split_list
from thesis_jax.data import h5
from thesis_jax.data.layout import Events
from thesis_jax.errors import ConfigError, DataError, lookup
from thesis_jax.facts.schema import clean_number
from thesis_jax.reports.inference import bootstrap, corruptions, figures, metrics
from thesis_jax.reports.inference.baselines import Baselines
from thesis_jax.reports.inference.prior_scores import (PRIOR_LOOP, PriorScorer,
                                                       find_prior_run,
                                                       trained_on as _trained_on)
from thesis_jax.reports.inference.stream_scores import (TimedScorer, block_rows,
                                                        changed as _changed,
                                                        file_blocks,
                                                        open_run_data,
                                                        score_blocks)
from thesis_jax.train.batched import Scorer

PERM_CHECK_EVENTS = 2048
SHUFFLE_NOTE = (
    "token_shuffle only reorders the tokens of an event. For a model whose "
    "per-event score is invariant under token permutations (token-wise or "
    "set-based models: mlp, gnn) the corrupted scores equal the clean ones up "
    "to float rounding, so its AUROC is exactly 0.5 by construction: a sanity "
    "check of the pipeline, not an anomaly signal.")


def strategy_list(cfg) -> List[Tuple[str, Tuple[float, ...]]]:
  """`inference.strategies` {name: strengths} -> [(name, strengths)] for the
  non-empty entries, names checked against CORRUPTIONS."""
  out = []
  for name, strengths in cfg.strategies.items():
    lookup(corruptions.CORRUPTIONS, name, "corruption", "inference.strategies")
    vals = tuple(float(s) for s in split_list(strengths))
    if vals:
      out.append((name, vals))
  return out


def anomaly_file_list(cfg) -> List[str]:
  return [str(p) for p in split_list(cfg.get("anomaly_files", "") or "")]


def _score_means(scores: Dict[str, np.ndarray]) -> Dict:
  return {k: clean_number(np.mean(v)) for k, v in scores.items()}


def _record(kind, name, strength, label, clean, anom, primary, cfg,
            changed=None):
  """Metrics of one anomalous sample against the clean scores: every score's
  AUROC with a seeded bootstrap interval (paired resampling for corruptions),
  and the primary score's efficiencies, SIC and ROC."""
  tied = None
  by_score, ci_by_score = {}, {}
  rtol = float(cfg.tie_rtol)
  n_boot, level = int(cfg.get("bootstrap", 200)), float(cfg.get("ci_level", 0.95))
  prim_scores = np.asarray(anom[primary], np.float64)
  for key in clean:
    c, a = clean[key], np.asarray(anom[key], np.float64)
    if not (np.isfinite(c).all() and np.isfinite(a).all()):
      by_score[key] = ci_by_score[key] = None
      continue
    if changed is not None:                # paired: snap float-rounding ties
      a, t = metrics.snap_paired_ties(c, a, rtol)
      if key == primary:
        prim_scores, tied = a, t
    by_score[key] = metrics.auroc(c, a)
    ci_by_score[key] = bootstrap.auroc_interval(
        c, a, n_boot, int(cfg.seed), level, paired=changed is not None)["auroc_ci"]
  rec = {"kind": kind, "strategy": name, "strength": strength, "label": label,
         "n_clean": int(clean[primary].size), "n_anomalous": int(prim_scores.size),
         "mean_score": clean_number(np.mean(prim_scores)),
         "mean_score_clean": clean_number(np.mean(clean[primary]))}
  if np.isfinite(prim_scores).all() and np.isfinite(clean[primary]).all():
    rec.update(metrics.summarize(clean[primary], prim_scores))
  else:
    rec.update({"auroc": None, "note": f"score '{primary}' is not finite"})
  rec["auroc"] = clean_number(rec["auroc"])
  rec["auroc_ci"] = ci_by_score.get(primary) or [None, None]
  rec["ci_level"], rec["n_boot"] = level, n_boot
  rec["auroc_by_score"] = {k: clean_number(v) for k, v in by_score.items()}
  rec["auroc_ci_by_score"] = ci_by_score
  if changed is not None:
    rec["frac_events_changed"] = float(np.mean(changed))
    rec["frac_scores_tied"] = float(np.mean(tied)) if tied is not None else None
  return rec, prim_scores


def _check_events(ev, loaded, where: str, ids: bool = True) -> None:
  """Events (or Blocks: token count only, `ids=False`) the model knows."""
  if ev.n_tokens != loaded.info.n_tokens:
    raise DataError(f"{where}: {ev.n_tokens} tokens per event, but the model "
                    f"of {loaded.run_dir} was trained with {loaded.info.n_tokens}")
  if not ids:
    return
  top = int(ev.ids.max())
  if top >= loaded.info.num_types:
    raise DataError(f"{where}: type id {top} is unknown to the model of "
                    f"{loaded.run_dir} (trained with ids < {loaded.info.num_types})")


def read_anomaly_files(cfg, loaded=None, stack=None) -> List[Tuple]:
  """[(path, dataset, Blocks)] of `inference.anomaly_files` (first
  `inference.max_events` rows), read once block by block to check them
  against the run's model when `loaded` is given (the files are then closed
  by `stack`, a contextlib.ExitStack), else [(path, dataset, None)]."""
  out = []
  for path in anomaly_file_list(cfg):
    ds = h5.find_single_dataset(path, str(cfg.get("file_dataset", "X_test")),
                                "inference.anomaly_files", "inference.file_dataset")
    if loaded is None:
      out.append((path, ds, None))
      continue
    f = h5.SplitFile(path, {ds: ds}, loaded.info.n_tokens,
                     int(cfg.get("max_events", 0) or 0),
                     block_rows(loaded.config.data, cfg))
    stack.callback(f.close)
    blocks = file_blocks(f, ds)
    with contextlib.closing(iter(blocks)) as it:
      for _, _, ev in it:
        _check_events(ev, loaded, f"{path}:{ds}")
    f.mark_validated(ds)            # the scoring pass skips the row checks
    out.append((path, ds, blocks))
  return out


def _permutation_check(score_all, sub, clean, primary, seed, rtol) -> Dict:
  """Shuffles the tokens of the first events `sub` (PERM_CHECK_EVENTS): are
  the scores unchanged up to float rounding?"""
  n = len(sub)
  shuf = corruptions.apply("token_shuffle", sub, 1.0, seed)
  s = score_all(shuf)[primary]
  c = clean[primary][:n]
  rel = np.abs(s - c) / np.maximum(np.abs(c), 1e-30)
  ok = np.isfinite(rel)
  max_rel = float(rel[ok].max()) if ok.any() else None
  return {"permutation_invariant": bool(ok.all() and (rel <= rtol).all()),
          "max_rel_change": max_rel, "events_checked": n,
          "events_reordered": int(_changed(sub, shuf).sum())}


def evaluate_run(run_dir: str, label: str, cfg, fig_dir: str) -> Dict:
  """Inference + anomaly detection for one thesis_jax run -> summary entry."""
  with contextlib.ExitStack() as stack:       # closes the HDF5 files
    return _evaluate(run_dir, label, cfg, fig_dir, stack)


def _evaluate(run_dir, label, cfg, fig_dir, stack) -> Dict:
  from thesis_jax.train.restore import load_run
  t0 = time.perf_counter()
  loaded = load_run(run_dir, str(cfg.get("checkpoint", "best")))
  step = getattr(loaded.loop, "score_step", None)
  entry = {"run_dir": run_dir, "kind": "thesis_jax", "label": label,
           "loop": loaded.config.loop, "checkpoint_epoch": int(loaded.epoch),
           "encoder": loaded.config.phase1.encoder.name,
           "latent_space": loaded.config.phase1.latent_space.name}
  if loaded.config.loop == PRIOR_LOOP:
    entry.update(skipped=True, note=f"token prior run: its prior_nll scores "
                 f"appear with its tokenizer run {loaded.config.prior.tokenizer_run}")
    return entry
  if step is None:
    entry.update(skipped=True, note=f"loop '{loaded.config.loop}' provides no "
                 "score_step: no per-event scores")
    return entry
  scored, train, source = open_run_data(loaded, cfg, stack)
  where = f"{source}:{cfg.split}"
  _check_events(scored, loaded, where, ids=False)
  base = Baselines.fit_blocks(train.events(), n_events=len(train))
  files = read_anomaly_files(cfg, loaded, stack)
  packer = getattr(loaded.loop, "packer", None)       # padding-free scoring
  scorer = Scorer(step, loaded.state, int(cfg.batch_size),
                  int(cfg.steps_per_dispatch), int(cfg.get("host_threads", 1)),
                  pack=packer() if packer is not None else None)
  timer = TimedScorer(scorer)                         # the clean pass's speed
  prior, prior_note = _prior_scorer(run_dir, loaded, cfg)

  def score_all(ev: Events, model=scorer) -> Dict[str, np.ndarray]:
    """Raw events -> the run's scores, the baselines and the prior's."""
    out = dict(model(loaded.norm.apply(ev)), **base.score(ev))
    if prior is not None:
      out.update(prior(ev))
    return out
  clean, _ = score_blocks(scored, lambda ev: score_all(ev, timer),
                          check=lambda ev: _check_events(ev, loaded, where))
  speed = timer.events_per_s
  primary, rtol, seed = str(cfg.score), float(cfg.tie_rtol), int(cfg.seed)
  if primary.startswith("prior_") and prior is None:
    raise ConfigError(f"inference.score '{primary}' needs a token prior for "
                      f"{run_dir}: {prior_note}")
  if primary not in clean:
    raise ConfigError(f"inference.score '{primary}' is not a score of loop "
                      f"'{loaded.config.loop}'; valid: {', '.join(sorted(clean))}")
  entry.update(split=str(cfg.split), data_source=source, n_events=len(scored),
               score=primary, clean=_score_means(clean),
               events_per_s=float(speed), compile_s=float(scorer.compile_s),
               prior_run=prior.run_dir if prior is not None else None)
  if prior_note:
    entry["prior_note"] = prior_note
  entry["permutation_check"] = _permutation_check(
      score_all, scored.head(PERM_CHECK_EVENTS), clean, primary, seed, rtol)
  records, roc_groups, hist_groups, panels = [], {}, {}, {}
  for name, strengths in strategy_list(cfg):
    for s in strengths:
      anom, moved = score_blocks(scored, score_all, corrupt=(name, s, seed))
      rec, prim = _record("corruption", name, s, f"strength {s:g}", clean, anom,
                          primary, cfg, changed=moved)
      if name == "token_shuffle" and entry["permutation_check"][
          "permutation_invariant"]:
        rec["note"] = "sanity check: permutation-invariant model, AUROC 0.5 exact"
      records.append(rec)
      roc_groups.setdefault(name, []).append(
          {"label": rec["label"], "scores": prim, "auroc": rec["auroc"] or math.nan})
      hist_groups[name] = {"label": f"{name} {s:g}", "scores": prim}
      panels[name] = {"label": f"{name} @ {s:g}", "anom": anom, "rec": rec}
  for path, ds, blocks in files:
    fname = os.path.basename(path)
    anom, _ = score_blocks(blocks, score_all)
    rec, prim = _record("file", fname, None, f"{fname}:{ds}", clean, anom,
                        primary, cfg)
    rec["path"], rec["dataset"] = path, ds
    records.append(rec)
    roc_groups.setdefault("anomaly files", []).append(
        {"label": fname, "scores": prim, "auroc": rec["auroc"] or math.nan})
    hist_groups[f"file: {fname}"] = {"label": fname, "scores": prim}
    panels[f"file: {fname}"] = {"label": fname, "anom": anom, "rec": rec}
  entry["anomaly"] = records
  notes = {}
  if entry["permutation_check"]["permutation_invariant"]:
    notes["token_shuffle"] = ("permutation-invariant model:\nAUROC 0.5 exact,"
                              " a sanity check,\nnot a signal")
  entry["figures"] = _run_figures(label, clean[primary], primary, roc_groups,
                                  hist_groups, fig_dir, int(cfg.hist_bins), notes)
  if panels:
    entry["figures"].append(figures.score_roc_figure(
        figures.figure_path(fig_dir, "roc_by_score", label), label, clean,
        list(panels.values()), shown=(primary, "loss")))
  entry["wall_s"] = time.perf_counter() - t0
  return entry


def _prior_scorer(run_dir, loaded, cfg):
  """-> (PriorScorer or None, note or None) for this tokenizer run."""
  prior_dir = find_prior_run(run_dir, cfg)
  if prior_dir is None:
    return None, ("no token prior run found next to this run (train one: "
                  "configs/token_prior.py), so no prior_nll scores")
  if not str(cfg.get("prior_run", "") or "") or _trained_on(prior_dir, run_dir):
    return PriorScorer(prior_dir, loaded, cfg), None
  return None, (f"inference.prior_run {prior_dir} belongs to another "
                "tokenizer run: no prior_nll scores here")


def _run_figures(label, clean, primary, roc_groups, hist_groups, fig_dir, bins,
                 notes):
  if not roc_groups or not np.isfinite(clean).all():
    return []
  title = f"{label}"
  return [
      figures.roc_figure(figures.figure_path(fig_dir, "roc", label), title,
                         roc_groups, clean, primary, notes),
      figures.histogram_figure(figures.figure_path(fig_dir, "scores", label),
                               title, hist_groups, clean, primary, bins)]
