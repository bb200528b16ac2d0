"""One run over two processes (jax.distributed on localhost, 2 CPU devices
each, gloo collectives) gives the losses of one process with 4 devices. The
two processes stream an HDF5 file (several shuffle windows) and each reads
only its rows of every global batch; the single process holds it in memory.
Each worker trains twice: data.shuffle_stripes=1 (every process reads every
block of a window) and =2 (each process reads only its stripe's blocks).

This file is also the worker:  python tests/test_multiprocess.py OUT NPROC PID PORT
"""
import csv
import json
import os
import socket
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TIMEOUT = 420
STREAM = {"data.block_rows": 100, "data.shuffle_buffer": 500}


def _worker(out, nproc, pid, port, h5_path):
  sys.path[:0] = [ROOT, HERE]
  import numpy as np
  from conftest import tiny_config
  from thesis_jax.data import stream
  from thesis_jax.errors import ConfigError
  import thesis_jax
  c = tiny_config(out, **{"phase1.trainer.epochs": 2,
                          "phase1.trainer.batch_size": 64,
                          "logging.run_dir": os.path.join(out, "run"),
                          "data.path": h5_path, **STREAM})
  if nproc > 1:
    c.distributed.update(coordinator_address=f"127.0.0.1:{port}",
                         num_processes=nproc, process_id=pid)
    c.data.reader = "stream"
    taken, take = [], stream.StreamRows.take_steps

    def logged(self, split, rows):      # the train rows this process reads
      taken.append(np.asarray(rows))
      return take(self, split, rows)
    stream.StreamRows.take_steps = logged
  else:   # the global batch must divide over all devices: a clear error
    c.phase1.trainer.batch_size = 66
    try:
      thesis_jax.train_model(c)
    except ConfigError as e:
      print("BATCH_ERROR", e, flush=True)
    c.phase1.trainer.batch_size = 64
  import jax
  res = {}
  for stripes in (1, 2):
    c.data.shuffle_stripes = stripes
    c.logging.run_dir = os.path.join(out, "run" if stripes == 1 else "run_s2")
    r = thesis_jax.train_model(c)
    res[stripes] = {"best": r.best_val_loss, "test": r.test_loss}
    if nproc > 1:
      np.save(os.path.join(out, f"rows{pid}_s{stripes}.npy"), np.concatenate(taken))
      taken.clear()
  print("RESULT", json.dumps({"pid": jax.process_index(),
                              "procs": jax.process_count(),
                              "devices": jax.device_count(),
                              "local": jax.local_device_count(),
                              "best": res[1]["best"], "test": res[1]["test"],
                              "s2": res[2]}),
        flush=True)


def _free_port():
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _launch(out, nproc, pid, port, devices, cache, h5_path):
  env = dict(os.environ, JAX_PLATFORMS="cpu",
             XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
             JAX_COMPILATION_CACHE_DIR=str(cache),
             JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0")
  return subprocess.Popen(
      [sys.executable, os.path.abspath(__file__), str(out), str(nproc),
       str(pid), str(port), h5_path], cwd=ROOT, env=env, stdout=subprocess.PIPE,
      stderr=subprocess.STDOUT, text=True)


def _result(proc):
  try:
    text, _ = proc.communicate(timeout=TIMEOUT)
  except subprocess.TimeoutExpired:
    proc.kill()
    text, _ = proc.communicate()
    pytest.fail(f"worker timed out:\n{text[-3000:]}")
  assert proc.returncode == 0, text[-3000:]
  line = [l for l in text.splitlines() if l.startswith("RESULT ")][-1]
  return json.loads(line[len("RESULT "):]), text


def _scalars(run_dir):
  with open(os.path.join(run_dir, "facts", "scalars.csv")) as f:
    return list(csv.DictReader(f))


@pytest.mark.slow
def test_two_processes_match_one_process_with_four_devices(tmp_path,
                                                           tmp_path_factory):
  import numpy as np
  from thesis_jax.data import batches, shuffle, synthetic
  cache = tmp_path_factory.mktemp("mp_cache")
  h5_path = str(tmp_path / "events.h5")
  synthetic.write_h5(h5_path, 640, seed=4, chunk_rows=100)   # 512 train
  port = _free_port()
  # all three processes at once (the single one compiles while the pair
  # waits on each other)
  procs = [_launch(tmp_path / "multi", 2, i, port, 2, cache, h5_path)
           for i in range(2)]
  one = _launch(tmp_path / "single", 1, 0, 0, 4, cache, h5_path)
  try:
    multi = [_result(p) for p in procs]
    single, single_log = _result(one)
  finally:
    for p in procs + [one]:
      if p.poll() is None:
        p.kill()
  # each process read only its half of every global batch: disjoint rows
  # that together are the epoch's batches (8 steps x 64, 2 epochs)
  rows = [np.load(tmp_path / "multi" / f"rows{i}_s1.npy") for i in range(2)]
  assert [r.size for r in rows] == [2 * 512 // 2] * 2
  for e in range(2):
    got = [r[e * 256:(e + 1) * 256] for r in rows]
    assert not set(got[0]) & set(got[1])
    order = np.concatenate(list(batches.shuffle_windows(
        512, 42, e, STREAM["data.block_rows"], STREAM["data.shuffle_buffer"])))
    by_batch = order.reshape(8, 2, 32)           # [step, process, local row]
    for i in range(2):
      np.testing.assert_array_equal(np.sort(got[i]), np.sort(by_batch[:, i].ravel()))
  # data.shuffle_stripes=2: 4 blocks of 100 rows dealt to 2 stripes, the
  # other 112 rows (a block and a partial one) cut in two: 256 rows a stripe,
  # 2 windows each, 8 steps of 2 x 32 rows. Each process read only its
  # stripe's rows: disjoint spans of the file (bytes), together every row.
  rows = [np.load(tmp_path / "multi" / f"rows{i}_s2.npy") for i in range(2)]
  assert [r.size for r in rows] == [2 * 256] * 2
  for e in range(2):
    got = [r[e * 256:(e + 1) * 256] for r in rows]
    for i in range(2):
      stripe = np.concatenate(list(shuffle.stripe_windows(
          512, 42, e, 100, STREAM["data.shuffle_buffer"], 2, i)))
      np.testing.assert_array_equal(np.sort(got[i]), np.sort(stripe))
    spans = [{b: (g[g // 100 == b].min(), g[g // 100 == b].max())
              for b in np.unique(g // 100)} for g in got]
    assert len(spans[0]) + len(spans[1]) <= 7    # 6 blocks, one shared
    for b in spans[0].keys() & spans[1].keys():
      assert spans[0][b][1] < spans[1][b][0] or spans[1][b][1] < spans[0][b][0]
    assert np.array_equal(np.sort(np.concatenate(got)), np.arange(512))

  assert [m[0]["pid"] for m in multi] == [0, 1]
  assert all((m[0]["procs"], m[0]["devices"], m[0]["local"]) == (2, 4, 2)
             for m in multi)
  assert (single["procs"], single["devices"]) == (1, 4)
  assert "BATCH_ERROR phase1.trainer.batch_size=66 is not divisible by the 4 " \
         "devices" in single_log
  # both processes agree; they match the single process
  assert multi[0][0]["best"] == multi[1][0]["best"]
  assert multi[0][0]["best"] == pytest.approx(single["best"], rel=1e-5)
  assert multi[0][0]["test"] == pytest.approx(single["test"], rel=1e-5)
  assert multi[0][0]["s2"] == multi[1][0]["s2"]
  for key in ("best", "test"):
    assert multi[0][0]["s2"][key] == pytest.approx(single["s2"][key], rel=1e-5)
  assert multi[0][0]["s2"]["best"] != pytest.approx(single["best"], rel=1e-5)
  for run in ("run", "run_s2"):
    a, b = _scalars(tmp_path / "multi" / run), _scalars(tmp_path / "single" / run)
    assert [(r["epoch"], r["split"]) for r in a] == [
        ("0", "train"), ("0", "val"), ("1", "train"), ("1", "val")]
    assert [(r["epoch"], r["split"]) for r in a] == [(r["epoch"], r["split"]) for r in b]
    for ra, rb in zip(a, b):
      for col in ("train_loss", "val_loss", "metric_perplex"):
        if ra[col] or rb[col]:
          assert float(ra[col]) == pytest.approx(float(rb[col]), rel=1e-5), col
  # only process 0 wrote facts; the checkpoint was written collectively
  with open(tmp_path / "multi" / "run" / "facts" / "events.jsonl") as f:
    moments = [json.loads(l)["moment"] for l in f]
  assert moments == ["on_start", "on_epoch_end", "on_epoch_end",
                     "on_train_end", "on_test_end"]
  assert "2" in os.listdir(tmp_path / "multi" / "run" / "checkpoints")


def test_process_rows_tile_the_global_batches():
  """Each process feeds only its rows; together they are the global batch."""
  import numpy as np
  from thesis_jax.data import synthetic
  from thesis_jax.data.pipeline import eval_stack, train_stack
  ev = synthetic.make_splits(300, 10, 10, 6, 0)["train"]
  one = train_stack(ev, 64, 7, 3)
  parts = [train_stack(ev, 64, 7, 3, p, 4) for p in range(4)]
  assert parts[0]["ids"].shape == (4, 16, 6)
  for k in one:
    np.testing.assert_array_equal(np.concatenate([q[k] for q in parts], 1), one[k])
  one = eval_stack(ev, 128)
  parts = [eval_stack(ev, 128, p, 2) for p in range(2)]
  for k in one:
    np.testing.assert_array_equal(np.concatenate([q[k] for q in parts], 1), one[k])
  assert one["weight"].sum() == 300


def test_distributed_flags_are_checked_before_start_up():
  import ml_collections
  from thesis_jax.errors import ConfigError
  from thesis_jax.train import distributed
  d = ml_collections.ConfigDict({"coordinator_address": "127.0.0.1:1",
                                 "num_processes": 2, "process_id": 2,
                                 "initialize": False})
  with pytest.raises(ConfigError, match="process_id=2"):
    distributed.maybe_initialize(d)
  d.update(coordinator_address="", num_processes=0, process_id=-1)
  assert distributed.maybe_initialize(d) is False   # not asked: never starts


if __name__ == "__main__":
  _worker(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]),
          sys.argv[5])
