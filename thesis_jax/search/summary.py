"""The trials of a search as rows: number, state, parameters, objective."""
from __future__ import annotations

from typing import Any, Dict, List

from thesis_jax.sweeps.grid import format_value
from thesis_jax.sweeps.state import fmt_num


def trial_rows(study, spec: Dict[str, Any]) -> List[Dict[str, Any]]:
  """One dict per trial (trial, state, params..., objective, epochs,
  last_reported, run_dir); `epochs` = epochs reported to the pruner and
  `last_reported` its last value (where a pruned trial stopped)."""
  rows = []
  for t in study.get_trials(deepcopy=False):
    row = {"trial": t.number, "state": t.state.name.lower()}
    row.update({k: t.params.get(k) for k in spec["space"]})
    row["objective"] = t.value
    steps = sorted(t.intermediate_values)
    row["epochs"] = steps[-1] + 1 if steps else None
    row["last_reported"] = t.intermediate_values[steps[-1]] if steps else None
    row["run_dir"] = t.user_attrs.get("run_dir")
    rows.append(row)
  return rows


def best_row(rows: List[Dict[str, Any]], direction: str):
  done = [r for r in rows if r["state"] == "complete" and r["objective"] is not None]
  if not done:
    return None
  pick = min if direction == "minimize" else max
  return pick(done, key=lambda r: r["objective"])


def summary_table(study, spec: Dict[str, Any]) -> str:
  """Plain-text table of every trial, then the best one."""
  rows = trial_rows(study, spec)
  names = list(spec["space"])
  obj = spec["search"]["objective"]
  head = ["trial", "state"] + names + [f"{obj} ({spec['search']['direction'][:3]})",
                                       "epochs"]
  cells = [[str(r["trial"]), r["state"]]
           + ["-" if r[n] is None else format_value(r[n]) for n in names]
           + [fmt_num(r["objective"]), "-" if r["epochs"] is None
              else str(r["epochs"])] for r in rows]
  widths = [max(len(c[i]) for c in cells + [head]) for i in range(len(head))]
  line = lambda c: "  ".join(x.ljust(w) for x, w in zip(c, widths)).rstrip()
  out = [line(head), line(["-" * w for w in widths])] + [line(c) for c in cells]
  counts: Dict[str, int] = {}
  for r in rows:
    counts[r["state"]] = counts.get(r["state"], 0) + 1
  out.append(", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
             or "no trials yet")
  best = best_row(rows, spec["search"]["direction"])
  if best is not None:
    out.append(f"best: trial {best['trial']} ({obj} {fmt_num(best['objective'])}"
               f"): " + ", ".join(f"{n}={format_value(best[n])}" for n in names)
               + f" | {best['run_dir']}")
  return "\n".join(out)
