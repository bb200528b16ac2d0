"""Rows each process reads from disk per epoch: data.shuffle_stripes S = 1 vs S = P.

  python -m experiments.make_synthetic --events 1000000 --out /tmp/syn_1m.h5 --compression lzf
  python benchmarks/stripe_reads.py --file /tmp/syn_1m.h5 --procs 2,4

The file is opened once with the stream reader (default data.* keys unless
given); then each process p of P is simulated in turn (`train_chunks`'
process_index / process_count, so no model and no devices): one training
epoch's batch stacks are built while every `SplitFile.read` of the train split is
counted. Reported per (P, S, p): reads (one per block, or part of a block
where a stripe ends inside one), rows read (MB decoded = rows x the file's
float32 row bytes, before any compression), the rows this process keeps, and the seconds spent
building the epoch (read + decompress + normalise + gather, one thread).
The start-up pass (validation and statistics, every split once per process)
is not divided by S; its time is printed once.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def epoch_reads(ds, batch: int, seed: int, procs: int, stripes: int,
                pidx: int) -> dict:
  """One simulated process's epoch -> {reads, rows, kept, seconds}."""
  import numpy as np
  from thesis_jax.data import batches
  f, log = ds.rows.file, []
  read = f.read

  def counted(split, a, b):
    if split == "train":
      log.append(b - a)
    return read(split, a, b)
  f.read = counted
  t, kept = time.perf_counter(), 0
  try:
    for stack, valid in batches.train_chunks(
        ds.rows, batch, seed, 0, 64, ds.buffer_rows, pidx, procs,
        stripes=stripes):
      kept += int(np.asarray(stack["weight"])[valid].sum())
  finally:
    f.read = read
  return {"reads": len(log), "rows": int(sum(log)), "kept": kept,
          "seconds": time.perf_counter() - t}


def main(argv=None) -> None:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--file", required=True, help="HDF5 file (make_synthetic)")
  p.add_argument("--procs", default="2,4", help="process counts P to simulate")
  p.add_argument("--batch", type=int, default=128)
  p.add_argument("--block_rows", type=int, default=0, help="0: default")
  p.add_argument("--shuffle_buffer", type=int, default=0, help="0: default")
  a = p.parse_args(argv)
  import h5py
  from configs.default import get_config
  from thesis_jax.data.pipeline import load_dataset
  c = get_config()
  c.data.path, c.data.reader = a.file, "stream"
  if a.block_rows:
    c.data.block_rows = a.block_rows
  if a.shuffle_buffer:
    c.data.shuffle_buffer = a.shuffle_buffer
  t = time.perf_counter()
  ds = load_dataset(c.data)
  with h5py.File(a.file, "r") as h:
    row_bytes = h["X_train"].dtype.itemsize * h["X_train"].shape[1]
  n = ds.rows.size("train")
  print(f"{a.file}: {n} train events, blocks of {ds.rows.block_rows['train']} "
        f"rows, shuffle buffer {ds.buffer_rows}, batch {a.batch}; start-up "
        f"pass {time.perf_counter() - t:.1f} s (every process, any S)")
  print("| P | S | process | reads | rows read | MB decoded | rows kept | s |")
  print("|---|---|---|---|---|---|---|---|")
  for procs in [int(x) for x in a.procs.split(",")]:
    for stripes in (1, procs):
      for pidx in range(procs):
        r = epoch_reads(ds, a.batch, 0, procs, stripes, pidx)
        print(f"| {procs} | {stripes} | {pidx} | {r['reads']} | {r['rows']:,} | "
              f"{r['rows'] * row_bytes / 1e6:.0f} | {r['kept']:,} | "
              f"{r['seconds']:.2f} |", flush=True)


if __name__ == "__main__":
  main()
