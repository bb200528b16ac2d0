"""The original's row layout: `[N, T + 2 + 4*T]` float rows.

Columns: `0..T-1` type ids (0 = padding), `T, T+1` globals (MET [GeV], MET phi
[rad]), then per token `(E [GeV], pT [GeV], eta, phi [rad])`, token-major.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

N_FEATURES = 4  # E, pT, eta, phi
N_GLOBALS = 2   # MET, MET phi
FEATURE_NAMES = ("E", "pT", "eta", "phi")
GLOBAL_NAMES = ("MET", "MET_phi")


class Events(NamedTuple):
  """A split of events as arrays.

  ids:     int32   [N, T]     type id per token, 0 = padding.
  cont:    float32 [N, T, 4]  (E, pT, eta, phi) per token.
  globals: float32 [N, 2]     (MET, MET phi).
  """
  ids: np.ndarray
  cont: np.ndarray
  globals: np.ndarray

  def __len__(self) -> int:
    return int(self.ids.shape[0])

  @property
  def n_tokens(self) -> int:
    return int(self.ids.shape[1])

  @property
  def mask(self) -> np.ndarray:
    """bool [N, T]: True for real tokens."""
    return self.ids > 0

  def take(self, idx) -> "Events":
    """Rows `idx` (any integer index array; output keeps idx's leading shape)."""
    return Events(self.ids[idx], self.cont[idx], self.globals[idx])


def row_width(n_tokens: int) -> int:
  return n_tokens + N_GLOBALS + N_FEATURES * n_tokens


def split_rows(rows: np.ndarray, n_tokens: int) -> Events:
  """[N, T+2+4T] float rows -> Events (no validation; see `validate_rows`)."""
  t = n_tokens
  ids = np.rint(rows[:, :t]).astype(np.int32)
  glob = np.ascontiguousarray(rows[:, t:t + N_GLOBALS], dtype=np.float32)
  cont = np.ascontiguousarray(
      rows[:, t + N_GLOBALS:].reshape(-1, t, N_FEATURES), dtype=np.float32)
  return Events(ids, cont, glob)


def join_rows(ev: Events) -> np.ndarray:
  """Events -> [N, T+2+4T] float32 rows, the inverse of `split_rows`."""
  n, t = ev.ids.shape
  return np.concatenate([
      ev.ids.astype(np.float32), ev.globals.astype(np.float32),
      ev.cont.reshape(n, t * N_FEATURES).astype(np.float32)], axis=1)


# Largest accepted type id: models embed ids in a table of (max id + 1) rows,
# so an id of 1e9 would ask for tens of GB (and 3e9 wraps around in int32).
MAX_TYPE_ID = 65_535
# Largest accepted |value| of a continuous feature or global. Far above any
# collider energy in GeV (LHC: 1.4e4) and low enough that squared errors
# summed over a batch stay finite in float32 (max 3.4e38).
MAX_ABS_VALUE = 1e10


def validate_rows(rows: np.ndarray, n_tokens: int, where: str,
                  row_offset: int = 0) -> None:
  """Raises DataError (one line naming `where` and the row) if `rows` break
  the layout contract; returns None if they are fine.

  A pure function of one chunk, so a streaming reader can call it per chunk:
  rows: [n, T+2+4T] (any float dtype), the file's rows
  `row_offset .. row_offset+n-1` (row numbers in messages are file rows);
  where: "file:dataset" (or the split) for the message. An empty array is
  an error only as the first chunk (an empty dataset).
  """
  from thesis_jax.errors import DataError
  if rows.ndim != 2:
    raise DataError(f"{where}: expected a 2-D array [N, {row_width(n_tokens)}], "
                    f"got shape {tuple(rows.shape)}")
  if rows.shape[1] != row_width(n_tokens):
    raise DataError(
        f"{where}: row width {rows.shape[1]} does not match data.n_tokens="
        f"{n_tokens} (expected {n_tokens}+2+4*{n_tokens}={row_width(n_tokens)})")
  if rows.shape[0] == 0:
    if row_offset == 0:
      raise DataError(f"{where}: dataset is empty (0 rows)")
    return

  bad = ~np.isfinite(rows)
  if bad.any():
    r, c = np.argwhere(bad)[0]
    raise DataError(f"{where}: {int(bad.sum())} non-finite values (NaN/inf), "
                    f"first at row {int(r) + row_offset}, column {c}")
  ids = rows[:, :n_tokens]
  if (ids < 0).any():
    r, c = np.argwhere(ids < 0)[0]
    raise DataError(f"{where}: negative type id {ids[r, c]:g} at row "
                    f"{int(r) + row_offset}, token {c} (ids must be >= 0; 0 is "
                    "padding)")
  frac = np.abs(ids - np.rint(ids)) > 1e-6
  if frac.any():
    r, c = np.argwhere(frac)[0]
    raise DataError(f"{where}: non-integer type id {ids[r, c]:g} at row "
                    f"{int(r) + row_offset}, token {c}")
  big = ids > MAX_TYPE_ID
  if big.any():
    r, c = np.argwhere(big)[0]
    raise DataError(f"{where}: type id {ids[r, c]:g} at row {int(r) + row_offset}"
                    f", token {c} exceeds the maximum {MAX_TYPE_ID} (models "
                    "embed ids in a table of max id + 1 rows)")
  vals = np.abs(rows[:, n_tokens:]) > MAX_ABS_VALUE
  if vals.any():
    r, c = np.argwhere(vals)[0]
    raise DataError(f"{where}: value {rows[r, n_tokens + c]:g} at row "
                    f"{int(r) + row_offset}, column {n_tokens + c} exceeds "
                    f"|x| <= {MAX_ABS_VALUE:g} (float32 training would "
                    "overflow)")


def as_dict(ev) -> dict:
  """Events -> {"ids", "cont", "globals"} (a dict of per-event arrays passes
  through unchanged)."""
  if isinstance(ev, Events):
    return {"ids": ev.ids, "cont": ev.cont, "globals": ev.globals}
  return dict(ev)
