"""Training throughput of the default VQ model.

  python benchmarks/train_throughput.py                       # 100k events, batch 128
  python benchmarks/train_throughput.py --batch_size 4096 --epochs 2
  python benchmarks/train_throughput.py --set phase1.encoder.activation=gelu_tanh
  python benchmarks/train_throughput.py --config configs/gan_ae.py

Prints: events/s training-only (train events / train time), events/s by the
facts' definition (train events / (train + val time)), compile time, model
FLOPs per event (dense matmul count, forward + backward = 3x forward), the
machine's measured float32 matmul rate and the fraction of that floor.
Timings exclude the first epoch (compilation and warm-up).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load_config(path: str):
  arg = ""
  if ":" in path:
    path, arg = path.split(":", 1)
  spec = importlib.util.spec_from_file_location("bench_cfg", path)
  mod = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(mod)
  return mod.get_config(arg) if arg else mod.get_config()


def matmul_rate(n: int = 1024, reps: int = 20) -> float:
  """Measured float32 GFLOP/s of a jitted [n,n]x[n,n] matmul."""
  import jax
  import jax.numpy as jnp
  a = jnp.ones((n, n), jnp.float32)
  f = jax.jit(lambda x: x @ x)
  f(a).block_until_ready()
  t = time.perf_counter()
  for _ in range(reps):
    out = f(a)
  out.block_until_ready()
  return 2 * n ** 3 * reps / (time.perf_counter() - t) / 1e9


def dense_flops_per_event(config, n_tokens: int = 18, num_types: int = 6) -> float:
  """Forward matmul FLOPs per event of the mlp/vq/mlp model (x3 for training)."""
  p = config.phase1
  d = int(p.latent_space.latent_dim)
  dims = [4 + int(p.encoder.id_embed_dim), *p.encoder.enc_hidden, d]
  enc = sum(2 * a * b for a, b in zip(dims[:-1], dims[1:]))
  vq = 2 * d * int(p.latent_space.codebook_size) if p.latent_space.name == "vq" else 0
  lin = 2 * d * d if p.latent_space.name == "linear" else 0
  ddims = [d, *p.decoder.dec_hidden, 4]
  dec = sum(2 * a * b for a, b in zip(ddims[:-1], ddims[1:]))
  per_token = enc + vq + lin + dec
  g = 0
  if p.decoder.globals_head:
    gd = [d, *p.decoder.globals_hidden, 2]
    g = sum(2 * a * b for a, b in zip(gd[:-1], gd[1:]))
  return float(per_token * n_tokens + g)


def main():
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--config", default="configs/default.py")
  ap.add_argument("--events", type=int, default=100_000)
  ap.add_argument("--batch_size", type=int, default=128)
  ap.add_argument("--epochs", type=int, default=3)
  ap.add_argument("--set", action="append", default=[],
                  help="extra dotted overrides key=value (python literal)")
  ap.add_argument("--host_devices", type=int, default=1,
                  help="1: split the CPU into one device per core, as the CLI does")
  ap.add_argument("--json", default="", help="also write results to this file")
  args = ap.parse_args()

  from thesis_jax.config_tools import apply_assignments
  c = load_config(args.config)
  if args.host_devices:
    from thesis_jax.train.host_devices import configure_host_devices
    configure_host_devices(args.batch_size)
  import jax
  import thesis_jax

  c.data.path = ""
  c.data.synthetic.update(n_train=args.events, n_val=max(args.events // 10, 1000),
                          n_test=1000)
  c.phase1.trainer.batch_size = args.batch_size
  c.phase1.trainer.epochs = args.epochs
  c.logging.save_artifacts = False
  c.logging.progress = False
  apply_assignments(c, args.set)
  with tempfile.TemporaryDirectory() as tmp:
    c.logging.output_root = tmp
    t0 = time.perf_counter()
    res = thesis_jax.train_model(c)
    wall = time.perf_counter() - t0
    with open(os.path.join(res.run_dir, "facts", "events.jsonl")) as f:
      events = [json.loads(l) for l in f]
  epochs = [e for e in events if e["moment"] == "on_epoch_end"]
  steady = epochs[1:] or epochs
  train_only = sum(e["train_throughput"] for e in steady) / len(steady)
  facts_def = sum(e["throughput"] for e in steady) / len(steady)
  first = epochs[0]
  compile_s = first["epoch_time_s"] - (args.events // args.batch_size * args.batch_size
                                       ) / facts_def
  flops = 3 * dense_flops_per_event(c)
  rate = matmul_rate()
  frac = train_only * flops / (rate * 1e9)
  out = {
      "device": f"{jax.device_count()}x {jax.devices()[0].device_kind}",
      "loop": c.loop, "events": args.events, "batch_size": args.batch_size,
      "train_events_per_s": round(train_only), "facts_events_per_s": round(facts_def),
      "compile_s_est": round(compile_s, 2), "train_flops_per_event": flops,
      "matmul_gflops": round(rate, 1), "fraction_of_dense_floor": round(frac, 3),
      "wall_s": round(wall, 1),
  }
  for k, v in out.items():
    print(f"{k:>24}: {v}")
  if args.json:
    with open(args.json, "w") as f:
      json.dump(out, f, indent=2)


if __name__ == "__main__":
  main()
