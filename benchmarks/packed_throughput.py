"""Packed (padding-free) vs dense compute, measured in one process.

  python benchmarks/packed_throughput.py                        # 100k synthetic, batch 128
  python benchmarks/packed_throughput.py --batch_size 4096
  python benchmarks/packed_throughput.py --data tests/data/cms_hzz_tokens.h5
  python benchmarks/packed_throughput.py --inference            # per-event scores

Both paths are compiled first, then timed alternately (dense, packed, dense,
...) for `--rounds` rounds, so a machine shared with other work slows both
alike; the ratio is the median of the per-round ratios. Training times one
epoch of `lax.scan` chunks (steps_per_dispatch) per round, packing included
(the packed path builds its buffers from the dense stack each epoch, as the
driver does); inference times `train.batched.Scorer` over the test split.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _train_epoch(chunk, state, stack, k, rng, mesh, pack):
  import jax
  from thesis_jax.train import scan, sharding
  t = time.perf_counter()
  if pack is not None:
    stack = pack(stack)
  for part, valid in scan.chunks(stack, k):
    state, m = chunk(state, sharding.put_stack(part, mesh),
                     jax.numpy.asarray(valid), rng)
  jax.block_until_ready(state)
  return state, time.perf_counter() - t


def main():
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--data", default="", help="HDF5 file (default: synthetic)")
  ap.add_argument("--events", type=int, default=100_000)
  ap.add_argument("--batch_size", type=int, default=128)
  ap.add_argument("--rounds", type=int, default=3)
  ap.add_argument("--inference", action="store_true")
  ap.add_argument("--host_devices", type=int, default=0,
                  help="1: one XLA device per core, as the CLI does")
  args = ap.parse_args()
  if args.host_devices:
    from thesis_jax.train.host_devices import configure_host_devices
    configure_host_devices(args.batch_size)

  import jax
  import numpy as np
  from configs.default import get_config
  from thesis_jax.data.packing import Packer
  from thesis_jax.data.pipeline import load_dataset, train_stack
  from thesis_jax.models import build_autoencoder
  from thesis_jax.train import scan, sharding
  from thesis_jax.train.loops import ae
  from thesis_jax.train.batched import Scorer
  from thesis_jax.train.state import init_state, make_optimizer

  c = get_config()
  if args.data:
    c.data.path = args.data
  else:
    c.data.synthetic.update(n_train=args.events, n_val=1000,
                            n_test=args.events)
  ds = load_dataset(c.data)
  p = c.phase1
  model = build_autoencoder(p, num_types=ds.num_types, norm=ds.norm)
  tx = make_optimizer(p.trainer)
  tr = ds.splits["train"]
  v = jax.jit(lambda r: model.init(r, tr.cont[:1], tr.ids[:1]))(jax.random.PRNGKey(0))
  state0 = init_state(v["params"], {k: x for k, x in v.items() if k != "params"}, tx)
  mesh = sharding.make_mesh()
  nd = mesh.devices.size
  pack = Packer(nd)
  print(f"data {ds.source}: train {len(tr)} events, {tr.mask.mean():.1%} real "
        f"token slots | {nd} {jax.devices()[0].platform} device(s) | "
        f"batch {args.batch_size}")

  times = {"dense": [], "packed": []}
  if args.inference:
    step = lambda s, b: ae.score_step(model, s, b)
    te = ds.splits["test"]
    scorers = {"dense": Scorer(step, state0, args.batch_size),
               "packed": Scorer(step, state0, args.batch_size, pack=Packer(nd))}
    for sc in scorers.values():
      sc.compile(te)
    n = len(te)
    out = {}
    for _ in range(args.rounds):
      for name, sc in scorers.items():
        t = time.perf_counter()
        out[name] = sc(te)
        times[name].append(time.perf_counter() - t)
    diff = max(float(np.max(np.abs(out["dense"][k] - out["packed"][k])
                           / np.maximum(np.abs(out["dense"][k]), 1e-6)))
               for k in out["dense"] if np.isfinite(out["dense"][k]).all())
    print(f"max relative difference of the per-event scores: {diff:.2e}")
  else:
    kw = dict(globals_beta=1.0, mask_padding=bool(p.loss.mask_padding))
    chunk = scan.make_train_chunk(
        lambda s, b, r: ae.train_step(model, tx, s, b, r, **kw), mesh)
    k = int(p.trainer.steps_per_dispatch)
    n = (len(tr) // args.batch_size) * args.batch_size
    # Own buffers per path: the chunk donates its state argument.
    states = {name: sharding.replicate(jax.tree.map(lambda x: x.copy(), state0), mesh)
              for name in times}
    rng = jax.random.PRNGKey(1)
    # Round 0 compiles; the packer's capacity is the largest bucket of all
    # rounds' epochs (as in a run after its first epochs), so no round
    # recompiles.
    for r in range(1, args.rounds + 1):
      pack(train_stack(tr, args.batch_size, 0, r))
    for r in range(args.rounds + 1):
      stack = train_stack(tr, args.batch_size, 0, r)
      for name in times:
        states[name], dt = _train_epoch(chunk, states[name], stack, k, rng,
                                        mesh, pack if name == "packed" else None)
        if r:
          times[name].append(dt)
  ratios = [d / q for d, q in zip(times["dense"], times["packed"])]
  what = "inference" if args.inference else "training"
  for name, ts in times.items():
    print(f"{what} {name:6s}: {n / statistics.median(ts):9.0f} events/s "
          f"(rounds: {', '.join(f'{n / x:.0f}' for x in ts)})")
  print(f"packed / dense: {statistics.median(ratios):.2f}x "
        f"(per round: {', '.join(f'{x:.2f}' for x in ratios)})")


if __name__ == "__main__":
  main()
