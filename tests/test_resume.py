"""Resume, preemption and damaged checkpoints through the training driver
(issue 9 items 1, 3, 4, 5). Tiny synthetic runs; one uninterrupted 3-epoch
reference run is shared, every fault must end with exactly its numbers."""
import csv
import errno
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import yaml

import thesis_jax
from conftest import tiny_config, train_interrupted
from thesis_jax.errors import PREEMPTED_EXIT, ConfigError, OutputError, Preempted
from thesis_jax.facts.fake_runs import write_fake_run
from thesis_jax.train import resume

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEYS = ("train_loss", "val_loss", "rec_tokens", "perplex")


def cfg(root, **kw):
  c = tiny_config(root, **{"phase1.trainer.epochs": 3, **kw})
  c.data.synthetic.update(n_train=256, n_val=128, n_test=128)
  c.phase1.latent_space.kmeans_init = False
  return c


def events(run_dir):
  with open(os.path.join(run_dir, "facts", "events.jsonl")) as f:
    return [json.loads(l) for l in f]


def scalar_epochs(run_dir):
  with open(os.path.join(run_dir, "facts", "scalars.csv"), newline="") as f:
    return [int(r[0]) for r in list(csv.reader(f))[1:]]


def only_run(root):
  runs = os.listdir(os.path.join(root, "runs"))
  assert len(runs) == 1, runs
  return os.path.join(root, "runs", runs[0])


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
  return thesis_jax.train_model(cfg(tmp_path_factory.mktemp("ref")))


def _same_numbers(res, ref):
  for k in KEYS:
    assert res.histories[k] == ref.histories[k], k
  assert res.test_loss == ref.test_loss


# ------------------------------------------------ 1. resume finds the right run

def _fake(root, folder, name, finished=False):
  rd = os.path.join(root, "runs", folder)
  write_fake_run(rd, val_loss=[1.0], layout="thesis_jax", complete=finished,
                 config={"experiment": {"name": name}})
  return rd


def test_resume_lookup_is_by_exact_name(tmp_path):
  root = str(tmp_path)
  _fake(root, "run_20260101-000003_y_x", "y_x")        # newer, other experiment
  _fake(root, "run_20260101-000001_x", "x")
  want = _fake(root, "run_20260101-000002_x_2", "x")     # suffix of x
  _fake(root, "run_20260101-000002_x_10", "x", finished=True)
  _fake(root, "run_20260101-000004_x_2", "x_2")          # experiment "x_2"
  assert resume.find_unfinished(root, "x") == want
  assert resume.find_unfinished(root, "y") is None
  assert resume.find_unfinished(root, "x_2").endswith("000004_x_2")


def test_fresh_run_never_reuses_a_folder_with_epochs(tmp_path):
  rd = write_fake_run(str(tmp_path / "r"), val_loss=[1.0], layout="thesis_jax")
  with pytest.raises(ConfigError, match="already holds a run .1 completed"):
    resume.prepare(cfg(tmp_path, **{"logging.run_dir": rd}))


@pytest.mark.slow
def test_resume_restores_own_config_and_refuses_unsafe_changes(tmp_path, reference):
  first = thesis_jax.train_model(cfg(tmp_path, **{"phase1.trainer.epochs": 2}),
                           ["phase1.trainer.epochs=2"])
  rd = first.run_dir
  before = sorted(os.listdir(rd)), open(os.path.join(rd, "cfg.yaml")).read()
  # another base config (other data, lr) and an unsafe override
  other = cfg(tmp_path, **{"phase1.trainer.resume": True,
                           "phase1.trainer.lr": 0.5, "phase1.trainer.epochs": 3})
  other.data.synthetic.n_train = 999
  other.logging.run_dir = rd                 # a finished run gets more epochs
  with pytest.raises(ConfigError, match=r"cannot change on resume: "
                     r"phase1\.trainer\.lr \(changeable"):
    thesis_jax.train_model(other, ["phase1.trainer.lr=0.5", "phase1.trainer.resume=True",
                             f"logging.run_dir={rd}"])
  other.phase1.trainer.epochs = 1
  with pytest.raises(ConfigError, match="epochs=1 is below the 2 epoch"):
    thesis_jax.train_model(other, ["phase1.trainer.epochs=1"])
  other.phase1.trainer.epochs = 3
  assert (sorted(os.listdir(rd)), open(os.path.join(rd, "cfg.yaml")).read()) == before
  # safe: more epochs; the base's other data and lr are ignored (cfg.yaml wins)
  res = thesis_jax.train_model(other, ["phase1.trainer.epochs=3",
                                 "phase1.trainer.resume=True"])
  assert res.run_dir == rd
  _same_numbers(res, reference)
  saved = yaml.safe_load(open(os.path.join(rd, "cfg.yaml")))
  assert saved["phase1"]["trainer"]["epochs"] == 3
  assert saved["data"]["synthetic"]["n_train"] == 256
  assert yaml.safe_load(open(os.path.join(rd, "overrides.yaml"))) == [
      "phase1.trainer.epochs=3"]
  assert [e["moment"] for e in events(rd)].count("on_train_end") == 1


# ------------------------------------------------------------- 3. preemption

@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_mid_epoch_saves_and_resumes_exactly(tmp_path,
                                                    monkeypatch, sig):
  from thesis_jax.train import driver
  orig, calls = driver.epoch_stacks, []

  def chunks(*a, **k):        # the signal arrives inside epoch 2 (index 1)
    for i, item in enumerate(orig(*a, **k)):
      calls.append(1)
      if len(calls) == 6:
        os.kill(os.getpid(), sig)
      yield item
  monkeypatch.setattr(driver, "epoch_stacks", chunks)
  c = cfg(tmp_path, **{"phase1.trainer.steps_per_dispatch": 1})
  handler = signal.getsignal(sig)
  with pytest.raises(Preempted) as err:
    thesis_jax.train_model(c)
  monkeypatch.setattr(driver, "epoch_stacks", orig)
  rd = only_run(tmp_path)
  msg = str(err.value)
  assert err.value.exit_code == PREEMPTED_EXIT == 75 and "\n" not in msg
  assert f"stopped by {sig.name}; epochs 1-1 are saved in {rd}" in msg
  assert f"--config.logging.run_dir={rd} --config.phase1.trainer.resume=True" in msg
  assert sorted(os.listdir(os.path.join(rd, "checkpoints"))) == ["1"]
  assert [e["moment"] for e in events(rd)] == ["on_start", "on_epoch_end"]
  assert scalar_epochs(rd) == [0, 0]
  assert signal.getsignal(sig) is handler          # handlers restored
  res = thesis_jax.train_model(cfg(tmp_path, **{"phase1.trainer.resume": True,
                                                 "phase1.trainer.steps_per_dispatch": 1}))
  # The same steps per dispatch as the stopped run: XLA compiles a K-step
  # scan differently for each K, so other K agree only to float rounding.
  _same_numbers(res, thesis_jax.train_model(
      cfg(tmp_path / "ref_k1", **{"phase1.trainer.steps_per_dispatch": 1})))


@pytest.mark.slow
def test_sigterm_cli_exit_code_and_printed_resume_command(tmp_path):
  """The real thing: `experiments.train` gets SIGTERM from outside."""
  args = ["--config", "configs/default.py:tiny",
          f"--config.logging.output_root={tmp_path}",
          "--config.phase1.trainer.epochs=100000",
          "--config.phase1.latent_space.kmeans_init=False"]
  p = subprocess.Popen([sys.executable, "-m", "experiments.train", *args],
                       cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True)
  t0 = time.time()
  while time.time() - t0 < 240:
    runs = os.path.join(tmp_path, "runs")
    ck = [os.path.join(runs, r, "checkpoints") for r in
          (os.listdir(runs) if os.path.isdir(runs) else [])]
    if ck and os.path.isdir(ck[0]) and any(n.isdigit() for n in os.listdir(ck[0])):
      break
    time.sleep(0.2)
  p.send_signal(signal.SIGTERM)
  out, err = p.communicate(timeout=120)
  assert p.returncode == PREEMPTED_EXIT, err[-3000:]
  assert "Traceback" not in err
  line = [l for l in err.splitlines() if l.startswith("error: ")]
  assert len(line) == 1 and "stopped by SIGTERM" in line[0]
  cmd = line[0].split("resume with: ", 1)[1]
  rd = only_run(tmp_path)
  assert not [n for n in os.listdir(os.path.join(rd, "checkpoints"))
              if not n.isdigit()]                     # no temporary folder
  done = max(int(n) for n in os.listdir(os.path.join(rd, "checkpoints")))
  assert f"epochs 1-{done} are saved" in line[0]
  assert [e["epoch"] for e in events(rd) if e["moment"] == "on_epoch_end"] == \
      list(range(done))                              # facts: 0-based epochs
  # the printed command resumes (here with a reachable number of epochs)
  argv = cmd.split()[1:] + [f"--config.phase1.trainer.epochs={done + 1}"]
  q = subprocess.run([sys.executable, *argv], cwd=ROOT, capture_output=True,
                     text=True, timeout=300)
  assert q.returncode == 0, q.stderr[-3000:]
  assert [e["moment"] for e in events(rd)][-2:] == ["on_train_end", "on_test_end"]


# ------------------------------------------------ 4. damaged newest checkpoint

@pytest.mark.slow
def test_damaged_newest_checkpoint_falls_back_and_truncates_facts(
    tmp_path, reference, monkeypatch, capsys):
  train_interrupted(thesis_jax.train_model, cfg(tmp_path), monkeypatch,
                    after_epoch=1)
  rd = only_run(tmp_path)
  assert sorted(os.listdir(os.path.join(rd, "checkpoints"))) == ["1", "2"]
  d = os.path.join(rd, "checkpoints", "2", "state", "ocdbt.process_0", "d")
  for f in os.listdir(d):                                # garbage bytes
    with open(os.path.join(d, f), "r+b") as fh:
      fh.write(os.urandom(os.path.getsize(os.path.join(d, f))))
  res = thesis_jax.train_model(cfg(tmp_path, **{"phase1.trainer.resume": True}))
  warn = [l for l in capsys.readouterr().err.splitlines() if "warning:" in l]
  assert len(warn) == 1 and "checkpoints/2" in warn[0] and "checkpoints/1" in warn[0]
  _same_numbers(res, reference)
  assert [e["epoch"] for e in events(rd) if e["moment"] == "on_epoch_end"] == [0, 1, 2]
  assert scalar_epochs(rd) == [0, 0, 1, 1, 2, 2]
  assert os.listdir(os.path.join(rd, "checkpoints_damaged")) == ["2"]


# -------------------------------------------------- 5. full disk during a run

@pytest.mark.slow
def test_full_disk_mid_run_then_resume(tmp_path, reference, monkeypatch):
  from thesis_jax.facts import writers
  real = writers.os.write
  state = {"events": 0}

  def write(fd, data):      # the disk fills while epoch 2's event is written
    if os.readlink(f"/proc/self/fd/{fd}").endswith("events.jsonl"):
      state["events"] += 1
      if state["events"] == 3:
        real(fd, bytes(data[:50]))
        raise OSError(errno.ENOSPC, "No space left on device")
    return real(fd, data)
  monkeypatch.setattr(writers.os, "write", write)
  with pytest.raises(OutputError, match="facts: cannot write facts: No space"):
    thesis_jax.train_model(cfg(tmp_path))
  monkeypatch.setattr(writers.os, "write", real)
  rd = only_run(tmp_path)
  assert [e["moment"] for e in events(rd)] == ["on_start", "on_epoch_end"]
  assert scalar_epochs(rd) == [0, 0]             # not an epoch ahead
  res = thesis_jax.train_model(cfg(tmp_path, **{"phase1.trainer.resume": True}))
  _same_numbers(res, reference)
