"""The end-of-sweep table: job, status, swept values, best val loss, time."""
from __future__ import annotations

from typing import List

from thesis_jax.sweeps import state


def summary_table(sweep: dict) -> str:
  """Plain-text table, one row per job (values as in the overrides)."""
  from thesis_jax.sweeps.grid import format_value
  axes = list(sweep["axes"])
  head = ["job", "status"] + axes + ["best val loss", "time [s]"]
  rows: List[List[str]] = []
  for j in sweep["jobs"]:
    rows.append([str(j["job"]), j["status"]]
                + [format_value(j["params"][a]) for a in axes]
                + [state.fmt_num(j.get("best_val_loss")),
                   state.fmt_num(j.get("time_s"), ".1f")])
  widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
  line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()
  out = [line(head), line(["-" * w for w in widths])] + [line(r) for r in rows]
  n = len(sweep["jobs"])
  done = sum(j["status"] == "done" for j in sweep["jobs"])
  failed = [str(j["job"]) for j in sweep["jobs"] if j["status"] == "failed"]
  out.append(f"{done}/{n} jobs done" + (f"; failed: {', '.join(failed)}"
                                        if failed else ""))
  return "\n".join(out)
