"""The report driver: `run_report(config) -> ReportResult`.

Order of work (errors leave nothing half-written): check the config, read and
select the runs, let the report check them, find the output folder; then
build everything in a hidden `.report_*.partial/` folder that is renamed to
`{output_root}/reports/report_{YYYYmmdd-HHMMSS}_{name}/` only when complete
(and deleted on any error). Backlinks (`report_pointer.txt` in each run) are
written last.
"""
from __future__ import annotations

import collections
import dataclasses
import datetime
import json
import logging
import os
import shutil
from typing import Any, Dict, List, Optional

import yaml

import thesis_jax
from thesis_jax.errors import ConfigError, lookup
from thesis_jax.facts.readers import Runs, load_runs
from thesis_jax.facts.run_config import CONVENTION
from thesis_jax.facts.schema import git_commit, json_safe
from thesis_jax.reports.compare_globals_heads import CompareGlobalsHeads
from thesis_jax.reports.compare_tokenizers import CompareTokenizers
from thesis_jax.reports.search import SearchReport
from thesis_jax.config_tools import split_list, to_plain as config_to_dict
from thesis_jax.train.rundir import (check_name, create_unique_dir,
                                     ensure_writable_dir, timestamp)

log = logging.getLogger("thesis_jax.reports")
POINTER = "report_pointer.txt"

# `config.report` names -> Report classes (configs/reports/<name>.py).
REPORTS = {
    "compare_tokenizers": CompareTokenizers,
    "compare_globals_heads": CompareGlobalsHeads,
    "search": SearchReport,
}


@dataclasses.dataclass
class ReportResult:
  report_id: str
  report_dir: str
  runs: Runs
  figures: List[str]            # paths inside report_dir
  inference: Optional[Dict[str, Any]]
  text: str                     # the one-screen summary


def _values(x) -> List[str]:
  if x is None or x == "":
    return []
  return [str(v).strip() for v in split_list(x) if str(v).strip()]


def _matches(value, wanted: List[str]) -> bool:
  for w in wanted:
    try:
      if float(value) == float(w):
        return True
    except (TypeError, ValueError):
      if str(value) == w:
        return True
  return False


def select(runs: Runs, select_cfg) -> Runs:
  """Keeps runs whose summary column matches one of the comma-separated
  values of each non-empty `select.<column>`."""
  s = runs.summary
  used = {}
  for col, val in (select_cfg or {}).items():
    wanted = _values(val)
    if not wanted:
      continue
    if col not in s:
      raise ConfigError(f"select.{col}: no such summary column")
    used[col] = wanted
    s = s[[_matches(v, wanted) for v in s[col]]]
  if s.empty:
    avail = {c: sorted({str(v) for v in runs.summary[c]}) for c in used}
    raise ConfigError(f"select: no runs left after filtering {used}; "
                      f"available values: {avail}")
  pe = runs.per_epoch[runs.per_epoch["run_dir"].isin(s["run_dir"])]
  return Runs(s.reset_index(drop=True), pe.reset_index(drop=True),
              runs.swept, runs.skipped)


def infer_output_root(config, runs: Runs, sweep_dir: str) -> str:
  """`env.output_root`, else the folder holding the runs' `runs/` and
  `multiruns/` (as the original does), else the runs' parent folder."""
  if config.env.output_root:
    return str(config.env.output_root)
  if sweep_dir:
    p = os.path.abspath(sweep_dir)
    if os.path.basename(os.path.dirname(p)) == "multiruns":
      return os.path.dirname(os.path.dirname(p))
  roots = []
  for rd in runs.summary["run_dir"]:
    parent = os.path.dirname(rd)
    if os.path.basename(parent) == "runs":
      root = os.path.dirname(parent)
      if os.path.basename(os.path.dirname(root)) == "multiruns":
        root = os.path.dirname(os.path.dirname(root))   # exp_*/runs/ layout
      roots.append(root)
  if roots:
    return collections.Counter(roots).most_common(1)[0][0]
  return os.path.dirname(runs.summary["run_dir"].iloc[0])


def _inference_fn(config):
  inf = config.get("inference", None)
  if not (inf is not None and inf.get("enabled", False)):
    return None
  try:
    from thesis_jax.reports.inference import run_inference
  except ImportError as e:
    raise ConfigError(f"inference.enabled=True but the inference module is "
                      f"unavailable: {e}") from None
  return run_inference


def _replace_paths(obj, old: str, new: str):
  if isinstance(obj, str):
    return obj.replace(old, new)
  if isinstance(obj, dict):
    return {k: _replace_paths(v, old, new) for k, v in obj.items()}
  if isinstance(obj, (list, tuple)):
    return [_replace_paths(v, old, new) for v in obj]
  return obj


def _dump_json(path: str, obj) -> None:
  with open(path, "w") as f:
    json.dump(obj, f, indent=2, default=str, allow_nan=False)


def run_report(config) -> ReportResult:
  """Builds the report `config.report` (see configs/reports/*.py)."""
  report = lookup(REPORTS, config.report, "report", "report")()
  if int(config.figures.dpi) <= 0:
    raise ConfigError(f"figures.dpi must be > 0, got {config.figures.dpi}")
  name = check_name(config.name or config.report, "name")
  sweep_dir = str(config.inputs.sweep_dir or "")
  runs = load_runs(sweep_dir or None, _values(config.inputs.run_dirs) or None)
  runs = select(runs, config.get("select", None))
  report.check(runs, config)
  run_inference = _inference_fn(config)

  root = infer_output_root(config, runs, sweep_dir)
  reports_dir = os.path.join(root, "reports")
  ensure_writable_dir(reports_dir, "env.output_root")
  # The final name is reserved by an atomic mkdir (concurrent reports get
  # _2, _3, ...); the finished build replaces the empty reserved folder.
  final = create_unique_dir(
      os.path.join(reports_dir, f"report_{timestamp()}_{name}"),
      "env.output_root")
  report_id = os.path.basename(final)
  tmp = os.path.join(reports_dir, f".{report_id}.partial")
  try:
    figures, inference = _build(tmp, final, report_id, report, runs, config,
                                sweep_dir, root, run_inference)
    os.rename(tmp, final)
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    if os.path.isdir(final) and not os.listdir(final):
      os.rmdir(final)
    raise
  _backlinks(runs, report_id, final)
  text = _text(report, runs, config, final, figures, inference)
  return ReportResult(report_id, final, runs,
                      [os.path.join(final, f) for f in figures], inference, text)


def _build(tmp, final, report_id, report, runs, config, sweep_dir, root,
           run_inference):
  tr_dir = os.path.join(tmp, "training")
  fig_dir = os.path.join(tr_dir, "figures")
  os.makedirs(fig_dir)
  runs.summary.to_csv(os.path.join(tr_dir, "summary.csv"), index=False)
  created = datetime.datetime.now(datetime.timezone.utc).isoformat()
  summary = {"report": config.report, "report_id": report_id, "created": created,
             "n_runs": len(runs.summary), "swept_params": runs.swept,
             "skipped_runs": [{"run_dir": p, "reason": r} for p, r in runs.skipped],
             "convention": CONVENTION,
             **report.summary(runs, config), "runs": runs.records()}
  _dump_json(os.path.join(tr_dir, "summary.json"), json_safe(summary))
  figures = report.figures(runs, config, fig_dir)
  inference = None
  if run_inference is not None:
    inf_dir = os.path.join(tmp, "inference")
    os.makedirs(os.path.join(inf_dir, "figures"))
    res = run_inference(runs.records(), config.inference, inf_dir)
    inference = json_safe(_replace_paths(res or {}, tmp, final))
    _dump_json(os.path.join(inf_dir, "summary.json"), inference)
    figures += sorted(os.path.join(inf_dir, "figures", f)
                      for f in os.listdir(os.path.join(inf_dir, "figures")))
  rel = sorted(os.path.relpath(p, tmp) for p in figures)
  manifest = {
      "report_id": report_id, "report": config.report, "created": created,
      "report_dir": final, "output_root": os.path.abspath(root),
      "thesis_jax_version": thesis_jax.__version__, "git_commit": git_commit(),
      "inputs": {"sweep_dir": sweep_dir or None,
                 "run_dirs": _values(config.inputs.run_dirs)},
      "n_runs": len(runs.summary),
      "runs": [{"run_dir": r, "kind": k} for r, k in
               zip(runs.summary["run_dir"], runs.summary["kind"])],
      "skipped_runs": [{"run_dir": p, "reason": r} for p, r in runs.skipped],
      "swept_params": runs.swept,
      "convention": CONVENTION,
      "inference": {"enabled": run_inference is not None},
      "files": ["training/summary.csv", "training/summary.json"] + rel
               + (["inference/summary.json"] if inference is not None else []),
      "config": config_to_dict(config)}
  with open(os.path.join(tmp, "manifest.yaml"), "w") as f:
    yaml.safe_dump(json_safe(manifest), f, sort_keys=False)
  return rel, inference


def _backlinks(runs: Runs, report_id: str, report_dir: str) -> None:
  for rd in runs.summary["run_dir"]:
    try:
      with open(os.path.join(rd, POINTER), "a", encoding="utf-8") as f:
        f.write(f"{report_id}\t{report_dir}\n")
    except OSError as e:
      log.warning("%s: cannot append to %s: %s", rd, POINTER, e)


def _inference_lines(summary: Dict[str, Any]) -> List[str]:
  """The inference module's own `text_summary`, else its notes."""
  try:
    from thesis_jax.reports.inference import text_summary
    return text_summary(summary).splitlines()
  except Exception as e:  # a summary line must not sink a finished report
    log.warning("inference text summary unavailable: %s", e)
    return ["inference:"] + [str(n) for n in summary.get("notes", [])]


def _text(report, runs, config, final, figures, inference) -> str:
  s = runs.summary
  kinds = ", ".join(f"{n} {k}" for k, n in s["kind"].value_counts().items())
  head = [f"report {config.report}: {len(s)} runs ({kinds})"
          + (f", {len(runs.skipped)} incomplete skipped" if runs.skipped else "")]
  ck = ", ".join(f"{k} ({n} runs)" for k, n in
                s["test_loss_checkpoint"].value_counts().items())
  head.append("convention: rec_globals = plain mse (thesis-ml's globals_beta x "
              f"mse divided by beta); test_loss of the model: {ck} "
              "(summary.json: convention)")
  lines = head + report.text(runs, config)
  if inference is not None:
    lines += _inference_lines(inference)
  n_tr = sum(f.startswith("training/") for f in figures)
  n_inf = sum(f.startswith("inference/") for f in figures)
  lines.append(f"figures: {n_tr} in training/figures/"
               + (f", {n_inf} in inference/figures/" if inference is not None else ""))
  lines.append(f"report folder: {final}")
  return "\n".join(lines)
