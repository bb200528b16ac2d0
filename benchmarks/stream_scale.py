"""Peak memory, start-up and training speed: streamed vs in-memory HDF5.

  python benchmarks/stream_scale.py --sizes 1000000,5000000 --dir /tmp/stream_bench
  python benchmarks/stream_scale.py --sizes 20000000 --readers stream --max_chunks 40

For each size N a synthetic file (80/10/10 %) is written once to --dir with
`experiments.make_synthetic`'s writer (--compression), then one fresh process
per (N, reader) loads the data (start-up: open + validating statistics pass,
or the full in-memory read) and trains the default model (VQ, batch 128,
64 steps per dispatch) for one epoch or --max_chunks chunks of 64 steps.
Reported per process: start-up seconds, train events/s (chunks after the
first, which includes compilation), peak resident memory (ru_maxrss) after
start-up and at the end, the epoch fraction trained, and how long the loop
waited for data in total and at most for one chunk (window reads).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def peak_rss_mb() -> float:
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def one(path: str, reader: str, max_chunks: int, batch: int) -> dict:
  """Start-up + training in this process -> numbers."""
  from thesis_jax.train.host_devices import configure_host_devices
  configure_host_devices(batch)
  import jax
  import numpy as np
  from configs.default import get_config
  from thesis_jax.data.pipeline import epoch_stacks, load_dataset, split_sizes
  from thesis_jax.train import scan, sharding
  from thesis_jax.train.config_check import validate_config
  from thesis_jax.train.loops import LOOPS
  c = get_config()
  c.data.path, c.data.reader = path, reader
  c.phase1.trainer.batch_size = batch
  validate_config(c)
  jax.devices()
  rss0 = peak_rss_mb()
  t = time.perf_counter()
  ds = load_dataset(c.data)
  startup = time.perf_counter() - t
  rss_load = peak_rss_mb()
  loop = LOOPS[c.loop].build(c, ds)
  mesh = sharding.make_mesh()
  k_init, k_data, k_steps = jax.random.split(jax.random.PRNGKey(0), 3)
  state = loop.data_init(loop.init_state(k_init, ds), ds, k_data)
  state = sharding.replicate(state, mesh)
  train_chunk = scan.make_train_chunk(loop.train_step, mesh)
  k = int(c.phase1.trainer.steps_per_dispatch)
  sizes = split_sizes(ds)
  steps_epoch = sizes["train"] // batch
  done, t_first, losses, waits = 0, None, [], []
  t0 = time.perf_counter()
  pack = loop.packer() if loop.packer else None   # as the driver does
  it = epoch_stacks(ds, batch, 42, 0, k, transform=pack)
  for i in range(10 ** 9):
    t_wait = time.perf_counter()
    item = next(it, None)
    if item is None:
      break
    part, valid = item
    if i:                      # time the training loop waited for data
      waits.append(time.perf_counter() - t_wait)
    state, m = train_chunk(state, sharding.put_stack(part, mesh),
                           jax.numpy.asarray(valid), k_steps)
    losses.append(m["loss"])
    if i == 0:
      jax.block_until_ready(m["loss"])
      t_first = time.perf_counter()
    else:
      done += int(valid.sum())
    if max_chunks and i + 1 >= max_chunks:
      break
  loss = float(np.mean(np.asarray(jax.device_get(losses[-1]))))
  dt = time.perf_counter() - t_first
  return {"reader": ds.reader, "compute": loop.compute, "events": sum(sizes.values()),
          "train_events": sizes["train"], "startup_s": round(startup, 2),
          "first_chunk_s": round(t_first - t0, 2),
          "train_events_per_s": round(done * batch / max(dt, 1e-9)),
          "epoch_fraction": round((done + k) / steps_epoch, 3),
          "rss_before_data_mb": round(rss0), "peak_rss_after_startup_mb": round(rss_load),
          "peak_rss_mb": round(peak_rss_mb()), "last_loss": round(loss, 5),
          "data_wait_s": round(sum(waits), 2),
          "max_data_wait_s": round(max(waits, default=0.0), 2),
          "devices": jax.device_count()}


def main():
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--sizes", default="1000000", help="comma-separated N")
  ap.add_argument("--readers", default="memory,stream")
  ap.add_argument("--dir", default="/tmp/stream_bench")
  ap.add_argument("--compression", default="lzf", choices=["none", "gzip", "lzf"])
  ap.add_argument("--max_chunks", type=int, default=0, help="0: one full epoch")
  ap.add_argument("--batch_size", type=int, default=128)
  ap.add_argument("--one", nargs=2, metavar=("FILE", "READER"), help=argparse.SUPPRESS)
  ap.add_argument("--json", default="", help="append result lines to this file")
  args = ap.parse_args()
  if args.one:
    print("RESULT", json.dumps(one(*args.one, args.max_chunks, args.batch_size)),
          flush=True)
    return
  from thesis_jax.data.synthetic import write_h5
  os.makedirs(args.dir, exist_ok=True)
  for n in [int(s) for s in args.sizes.split(",")]:
    path = os.path.join(args.dir, f"syn_{n}_{args.compression}.h5")
    if not os.path.exists(path):
      t = time.perf_counter()
      write_h5(path, n, compression=args.compression)
      print(f"wrote {path}: {os.path.getsize(path) / 1e6:.0f} MB in "
            f"{time.perf_counter() - t:.0f} s", flush=True)
    for reader in args.readers.split(","):
      cmd = [sys.executable, os.path.abspath(__file__), "--one", path, reader,
             "--max_chunks", str(args.max_chunks), "--batch_size",
             str(args.batch_size)]
      out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
      lines = [l for l in out.stdout.splitlines() if l.startswith("RESULT ")]
      if out.returncode or not lines:
        print(f"N={n} {reader}: failed\n{out.stderr[-2000:]}", flush=True)
        continue
      res = dict(json.loads(lines[-1][7:]), file_mb=round(os.path.getsize(path) / 1e6))
      print(json.dumps(res), flush=True)
      if args.json:
        with open(args.json, "a") as f:
          f.write(json.dumps(res) + "\n")


if __name__ == "__main__":
  main()
