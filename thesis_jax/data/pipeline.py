"""From `config.data` to normalised splits and fixed-shape batch stacks.

Two ways to hold a split, chosen by `data.reader` (see `choose_reader`):
  memory: every split read (block by block) into float32 arrays, normalised
          once; ~2 x (20T+8) bytes per event (raw + normalised).
  stream: one validating statistics pass at start, then each epoch reads the
          blocks it needs (`stream.StreamRows`); memory independent of N.
Both feed the same batch builder (`batches.py`), so for the same seed the
batches, and hence the losses, are identical.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, Iterator, Tuple

import numpy as np

from thesis_jax.data import batches, h5, synthetic
from thesis_jax.data.layout import Events, as_dict  # noqa: F401 (re-exported)
from thesis_jax.data.normalization import Normalizer
from thesis_jax.data.stream import open_stream, prefetch
from thesis_jax.errors import ConfigError

SPLITS = ("train", "val", "test")
READERS = ("auto", "memory", "stream")
HEAD_ROWS = 65536   # rows of each split kept in memory when streaming
DEFAULT_BUFFER = 1 << 19   # data.shuffle_buffer's default (events)


@dataclasses.dataclass
class Dataset:
  """Normalised splits plus what models and reports need to know.

  splits: {"train"|"val"|"test": Events} normalised: the whole split when in
          memory, its first HEAD_ROWS events when streamed (enough for the
          k-means init and training figures; `split_sizes` gives the sizes).
  raw:    the same events in physical units (for corruptions, plots).
  rows:   the row source behind `epoch_stacks` / `eval_stacks`.
  """
  splits: Dict[str, Events]
  raw: Dict[str, Events]
  norm: Normalizer
  num_types: int
  n_tokens: int
  source: str            # file path, or "synthetic"
  rows: object = None
  reader: str = "memory"             # "memory" | "stream"
  buffer_rows: int = DEFAULT_BUFFER  # data.shuffle_buffer
  stripes: int = 1                   # data.shuffle_stripes


def row_source(dataset):
  """The row source behind a dataset: its `rows`, or (for dataset-like
  objects without one, e.g. the token prior's) its in-memory `splits`."""
  rows = getattr(dataset, "rows", None)
  return rows if rows is not None else batches.MemoryRows(dataset.splits,
                                                          h5.READ_ROWS)


def split_sizes(dataset) -> Dict[str, int]:
  """{split: events} (the whole split, also when streamed)."""
  rows = row_source(dataset)
  return {k: rows.size(k) for k in dataset.splits}


def epoch_steps(dataset, batch_size: int, drop_last: bool = True) -> int:
  """Global training batches per epoch (`shuffle.train_steps`)."""
  rows = row_source(dataset)
  return batches.train_steps(rows.size("train"), batch_size, drop_last,
                             int(getattr(dataset, "stripes", 1)),
                             rows.block_rows["train"])


def _transformed(chunks: Iterator[batches.Chunk], transform):
  for stack, valid in chunks:
    yield (stack if transform is None else transform(stack)), valid


def epoch_stacks(dataset, batch_size: int, seed: int, epoch: int, k: int,
                 process_index: int = 0, process_count: int = 1,
                 drop_last: bool = True, transform=None
                 ) -> Iterator[batches.Chunk]:
  """The epoch's training stacks [K, B_local, ...] + valid [K] (see
  `batches.train_chunks`), prepared ahead in a background thread, where
  `transform(stack) -> stack` (e.g. a `packing.Packer`) also runs."""
  return prefetch(_transformed(batches.train_chunks(
      row_source(dataset), batch_size, seed, epoch, k,
      int(getattr(dataset, "buffer_rows", DEFAULT_BUFFER)), process_index,
      process_count, drop_last=drop_last,
      stripes=int(getattr(dataset, "stripes", 1))), transform))


def eval_stacks(dataset, split: str, batch_size: int, k: int,
                process_index: int = 0, process_count: int = 1,
                transform=None) -> Iterator[batches.Chunk]:
  """A split in order in [K, B_local, ...] stacks (see `batches.eval_chunks`),
  prepared ahead in a background thread (with `transform`, as above)."""
  return prefetch(_transformed(batches.eval_chunks(
      row_source(dataset), split, batch_size, k, process_index,
      process_count), transform))


def _names(data_cfg) -> Dict[str, str]:
  ds = data_cfg.datasets
  return {"train": ds.x_train, "val": ds.x_val, "test": ds.x_test}


def _limit(data_cfg) -> int:
  return int(data_cfg.get("limit_samples", 0) or 0)


def _n_tokens(data_cfg) -> int:
  t = int(data_cfg.n_tokens)
  if t <= 0:
    raise ConfigError(f"data.n_tokens must be > 0, got {t}")
  return t


def open_split_file(data_cfg, splits=SPLITS, block_rows: int = 0) -> h5.SplitFile:
  """The HDF5 file of `data.path`, opened for `splits` (dataset names from
  `data.datasets`, first `data.limit_samples` rows) and read in blocks of
  `block_rows` rows (0: `data.block_rows`)."""
  names = _names(data_cfg)
  rows = int(block_rows) or int(data_cfg.get("block_rows", h5.READ_ROWS))
  return h5.SplitFile(str(data_cfg.path), {s: names[s] for s in splits},
                      _n_tokens(data_cfg), _limit(data_cfg), rows)


def head_rows(f: h5.SplitFile) -> Dict[str, Events]:
  """The first HEAD_ROWS raw events of every split of `f`."""
  return {k: f.read(k, 0, min(HEAD_ROWS, f.sizes[k])) for k in f.names}


def memory_bytes(n_events: int, n_tokens: int) -> int:
  """Bytes the memory reader holds: raw + normalised float32/int32 events."""
  return 2 * n_events * (20 * n_tokens + 8)


def choose_reader(data_cfg, n_events: int) -> str:
  """`data.reader`: "memory", "stream", or "auto" = stream when the memory
  reader would hold more than `data.stream_above_gb` GB (default 2)."""
  reader = str(data_cfg.get("reader", "auto"))
  if reader not in READERS:
    raise ConfigError(f"data.reader must be one of {', '.join(READERS)}, "
                      f"got '{reader}'")
  if reader != "auto":
    return reader
  limit = float(data_cfg.get("stream_above_gb", 2.0)) * 1e9
  return "stream" if memory_bytes(n_events, _n_tokens(data_cfg)) > limit \
      else "memory"


def load_raw(data_cfg) -> Tuple[Dict[str, Events], str]:
  """Raw splits in memory from `data.path` (HDF5) or the synthetic generator."""
  t = _n_tokens(data_cfg)
  limit = _limit(data_cfg)
  if data_cfg.path:
    return h5.read_splits(data_cfg.path, _names(data_cfg), t, limit), \
        str(data_cfg.path)
  sc = data_cfg.synthetic
  raw = synthetic.make_splits(int(sc.n_train), int(sc.n_val), int(sc.n_test),
                              t, int(sc.seed))
  if limit > 0:
    raw = {k: v.take(np.arange(min(limit, len(v)))) for k, v in raw.items()}
  return raw, "synthetic"


def load_dataset(data_cfg, norm: Normalizer | None = None) -> Dataset:
  """Loads, validates and normalises (train statistics unless `norm` given)."""
  t = _n_tokens(data_cfg)
  buffer_rows = int(data_cfg.get("shuffle_buffer", DEFAULT_BUFFER))
  if buffer_rows <= 0:
    raise ConfigError(f"data.shuffle_buffer must be > 0, got {buffer_rows}")
  stripes = int(data_cfg.get("shuffle_stripes", 1))
  if stripes < 1:
    raise ConfigError(f"data.shuffle_stripes must be >= 1, got {stripes}")
  ngl = bool(data_cfg.normalize_globals)
  if not data_cfg.path:
    raw, source = load_raw(data_cfg)
    block_rows = int(data_cfg.get("block_rows", h5.READ_ROWS))
    reader = "memory"
  else:
    source = str(data_cfg.path)
    f = open_split_file(data_cfg)
    try:
      reader = choose_reader(data_cfg, sum(f.sizes.values()))
    except ConfigError:
      f.close()
      raise
    if reader == "stream":
      rows, norm, num_types = open_stream(f, ngl, norm)
      head = head_rows(f)
      return Dataset({k: norm.apply(v) for k, v in head.items()}, head, norm,
                     num_types, t, source, rows, reader, buffer_rows, stripes)
    with f:
      raw = {k: f.read_all(k) for k in SPLITS}
    block_rows = dict(f.block_rows)
  num_types = max(int(ev.ids.max()) for ev in raw.values()) + 1
  if norm is None:
    norm = Normalizer.fit(raw["train"], ngl)
  splits = {k: norm.apply(v) for k, v in raw.items()}
  rows = batches.MemoryRows(splits, block_rows)
  return Dataset(splits, raw, norm, num_types, t, source, rows, reader,
                 buffer_rows, stripes)


def n_events(split) -> int:
  """Events in a split: `Events`, or a dict of per-event arrays [N, ...]
  (e.g. the token prior's {"seq": ...})."""
  if isinstance(split, Events):
    return len(split)
  return int(next(iter(split.values())).shape[0])


def train_stack(ev, batch_size: int, seed: int, epoch: int,
                process_index: int = 0, process_count: int = 1,
                drop_last: bool = True, buffer_rows: int = DEFAULT_BUFFER,
                block_rows: int = h5.READ_ROWS, stripes: int = 1
                ) -> Dict[str, np.ndarray]:
  """One epoch of shuffled training batches, `[S, B_local, ...]`, in memory.

  The order depends only on (seed, epoch, stripes) (two-level shuffle, see
  `shuffle.py`), so every process (and a resumed run) sees the same global
  batches. The last incomplete batch is dropped, or with `drop_last=False`
  (the original's DataLoader) kept as a full-shape batch whose missing rows
  have weight 0 (static shapes: the loss and the VQ statistics are weighted
  means over the real rows only). Process p takes rows [p*B/P, (p+1)*B/P)
  of each global batch; `stripes` > 1: see `shuffle.py`. `ev`: Events or
  a dict of per-event arrays.
  """
  steps = batches.train_steps(n_events(ev), batch_size, drop_last, stripes,
                              block_rows)
  rows = batches.MemoryRows({"train": ev}, block_rows)
  stack, _ = next(batches.train_chunks(rows, batch_size, seed, epoch, steps,
                                       buffer_rows, process_index,
                                       process_count, drop_last=drop_last,
                                       stripes=stripes))
  return stack


def eval_stack(ev, batch_size: int, process_index: int = 0,
               process_count: int = 1) -> Dict[str, np.ndarray]:
  """The whole split in order, padded to full batches, `[S, B_local, ...]`.

  `weight` is 1 for real events, 0 for the padding rows, so sums over it are
  exact split totals. `ev`: Events or a dict of per-event arrays.
  """
  steps = -(-n_events(ev) // batch_size)
  rows = batches.MemoryRows({"eval": ev}, h5.READ_ROWS)
  stack, _ = next(batches.eval_chunks(rows, "eval", batch_size, steps,
                                      process_index, process_count))
  return stack
