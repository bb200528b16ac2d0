"""Fault injection without training (issue 9): run-folder races, hostile
names and sweep.json entries, full disks and torn facts lines, damaged and
mismatched checkpoints, data that cannot be trained on, hostile YAML, and
reports on grids of any shape. Each test reproduces one fault."""
import errno
import json
import os
import subprocess
import threading

import h5py
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import tiny_config
from thesis_jax.data.layout import MAX_ABS_VALUE, MAX_TYPE_ID, row_width, validate_rows
from thesis_jax.errors import ConfigError, DataError, OutputError
from thesis_jax.facts import writers
from thesis_jax.facts.schema import build_event, iter_events
from thesis_jax.facts.writers import FactsWriter
from thesis_jax.sweeps import runner, state
from thesis_jax.sweeps.launchers import LauncherOptions, write_launcher
from thesis_jax.train import rundir
from thesis_jax.train.checkpoint import Checkpoints, abstract_like

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ------------------------------------------------- 7. run-folder creation race

def test_concurrent_starts_get_distinct_folders(tmp_path):
  """Barrier-synchronised starts (threads: the old exists-check handed the
  same folder to several of 8 starters in most rounds): every start gets its
  own folder, and concurrent writability probes never collide."""
  n, rounds = 8, 10
  for r in range(rounds):
    barrier, paths, errors = threading.Barrier(n), [], []
    base = str(tmp_path / "runs" / f"run_20260101-000000_x{r}")

    def start():
      barrier.wait()
      try:
        paths.append(rundir.create_unique_dir(base, "test"))
        rundir.ensure_writable_dir(str(tmp_path / "shared"), "test")
      except Exception as e:   # reported below
        errors.append(e)
    threads = [threading.Thread(target=start) for _ in range(n)]
    for t in threads:
      t.start()
    for t in threads:
      t.join()
    assert errors == []
    assert sorted(paths) == sorted([base] + [f"{base}_{i}" for i in range(2, n + 1)])
  assert os.listdir(tmp_path / "shared") == []          # no probe left behind


def test_one_unique_name_helper_for_runs_sweeps_reports(tmp_path):
  a = rundir.new_run_dir(str(tmp_path), "x", "20260101-000000")
  b = rundir.new_run_dir(str(tmp_path), "x", "20260101-000000")
  assert (os.path.isdir(a), b) == (True, a + "_2")
  e1 = state.new_exp_dir(str(tmp_path), "x", "20260101-000000")
  e2 = state.new_exp_dir(str(tmp_path), "x", "20260101-000000")
  assert e2 == e1 + "_2" and os.path.isdir(os.path.join(e2, "logs"))
  blocker = tmp_path / "file"
  blocker.write_text("")
  with pytest.raises(OutputError, match="logging.output_root"):
    rundir.new_run_dir(str(blocker), "x")


# ------------------------------------------------ 8. names and launcher quoting

@pytest.mark.parametrize("name", ["a\nb", "x; touch /tmp/pwned", "$(id)", "",
                                  "a b", "../up", "-rf", "a'b"])
def test_bad_experiment_names_rejected(name, tmp_path):
  from thesis_jax.train.config_check import validate_config
  with pytest.raises(ConfigError, match="experiment.name: invalid name"):
    validate_config(tiny_config(tmp_path, **{"experiment.name": name}))


@pytest.fixture
def small_sweep(tmp_path):
  from configs.experiments.compare_latent_spaces import get_config
  from thesis_jax.sweeps.plan import create_sweep
  c = get_config()
  c.base.logging.output_root = str(tmp_path)
  return create_sweep(c, launcher="slurm")


def test_hostile_sweep_name_cannot_reach_a_script(small_sweep, tmp_path):
  exp, sw = small_sweep
  todo = [(0, False)]
  sw["name"] = "x\n#SBATCH --wrap=touch /tmp/pwned"
  with pytest.raises(ConfigError, match="name: invalid name"):
    write_launcher("slurm", exp, ROOT, sw, todo, LauncherOptions())
  sw["name"] = "ok"
  with pytest.raises(ConfigError, match="newline"):
    write_launcher("slurm", exp, ROOT + "\ntouch /tmp/pwned", sw, todo,
                   LauncherOptions())
  with pytest.raises(ConfigError, match="--partition"):
    write_launcher("slurm", exp, ROOT, sw, todo,
                   LauncherOptions(partition="gpu\n#SBATCH --x"))
  assert not os.path.exists(os.path.join(exp, "slurm_array.sh"))


def test_launchers_send_sigterm_and_resume_requeued_tasks(small_sweep):
  exp, sw = small_sweep
  todo = [(j["job"], False) for j in sw["jobs"]]
  files, _ = write_launcher("slurm", exp, ROOT, sw, todo, LauncherOptions())
  text = open(files[0]).read()
  assert "#SBATCH --signal=B:TERM@120" in text.splitlines()
  files, _ = write_launcher("htcondor", exp, ROOT, sw, todo, LauncherOptions())
  sub = open(files[1]).read().splitlines()
  assert "kill_sig = SIGTERM" in sub
  assert "on_exit_remove = (ExitBySignal == True) || (ExitCode != 75)" in sub

  def argv(job):
    return subprocess.run(["bash", files[0], str(job)], capture_output=True,
                          text=True, env=dict(os.environ, PYTHON="echo"),
                          timeout=30).stdout.split()
  run1 = state.job_path(exp, sw["jobs"][1])
  os.makedirs(os.path.join(run1, "checkpoints", "0.orbax-checkpoint-tmp-7"))
  assert runner.RESUME_FLAG not in argv(1)      # only a partial save: restart
  os.makedirs(os.path.join(run1, "checkpoints", "4"))
  assert argv(1)[-1] == runner.RESUME_FLAG      # a requeued task resumes
  assert runner.RESUME_FLAG not in argv(0)


# ------------------------------------------- 2. sweep --resume path safety

@pytest.mark.parametrize("field,value", [
    ("run_dir", "../../../victim"), ("run_dir", "/tmp/victim_abs"),
    ("run_dir", "."), ("run_dir", "logs"), ("run_dir", "runs"),
    ("run_dir", "run_x/../../v"), ("run_dir", "runs/a/../../../v"),
    ("log", "../victim.log"), ("overrides", ["logging.run_dir=/victim"])])
def test_hostile_sweep_json_touches_nothing(small_sweep, tmp_path, field, value):
  exp, sw = small_sweep
  victim = tmp_path / "victim"
  victim.mkdir()
  (victim / "keep.txt").write_text("precious")
  sw["jobs"][1][field] = value
  state.write_sweep(exp, sw)
  with pytest.raises(OutputError, match="job 1"):
    runner.plan_resume(exp, state.read_sweep(exp))
  assert (victim / "keep.txt").read_text() == "precious"


def test_symlinked_job_folder_is_refused(small_sweep, tmp_path):
  exp, sw = small_sweep
  victim = tmp_path / "victim"
  victim.mkdir()
  os.symlink(victim, state.job_path(exp, sw["jobs"][0]))
  with pytest.raises(OutputError, match="job 0 run_dir"):
    state.read_sweep(exp)
  assert victim.is_dir()


# --------------------------------------------- 5. full disk, torn facts lines

def _epoch_event(run_dir, epoch):
  return build_event("on_epoch_end", run_dir, meta={}, epoch=epoch, val_loss=1.0,
                     histories={"val_loss": [1.0] * (epoch + 1)})


def _full_disk_after(monkeypatch, n_bytes):
  """os.write writes `n_bytes` more bytes in total, then fails with ENOSPC."""
  real, left = os.write, [n_bytes]

  def write(fd, data):
    if left[0] <= 0:
      raise OSError(errno.ENOSPC, "No space left on device")
    n = real(fd, bytes(data[:left[0]]))
    left[0] -= n
    return n
  monkeypatch.setattr(writers.os, "write", write)


def test_full_disk_leaves_whole_lines_and_consistent_files(tmp_path, monkeypatch):
  rd = str(tmp_path / "run")
  fw = FactsWriter(rd, ())
  for e in range(2):
    with fw.transaction():
      fw.scalars(epoch=e, split="val", val_loss=1.0)
      fw.event(_epoch_event(rd, e))
  before = {p: open(p, "rb").read() for p in (fw.events_path, fw.scalars_path)}
  _full_disk_after(monkeypatch, 150)   # the scalars row fits, the event does not
  with pytest.raises(OutputError) as err:
    with fw.transaction():
      fw.scalars(epoch=2, split="val", val_loss=1.0)
      fw.event(_epoch_event(rd, 2))
  msg = str(err.value)
  assert "\n" not in msg and msg.startswith(os.path.join(rd, "facts"))
  assert "No space left on device" in msg
  after = {p: open(p, "rb").read() for p in before}
  assert after == before      # no half line, scalars not an epoch ahead


def test_torn_last_line_is_cut_on_open_and_skipped_on_read(tmp_path):
  rd = str(tmp_path / "run")
  fw = FactsWriter(rd, ())
  fw.event(_epoch_event(rd, 0))
  fw.scalars(epoch=0, split="val", val_loss=1.0)
  good_ev = open(fw.events_path).read()
  good_sc = open(fw.scalars_path).read()
  with open(fw.events_path, "a") as f:        # a kill -9 mid-write
    f.write('{"moment": "on_epoch_end", "epo')
  with open(fw.scalars_path, "a") as f:
    f.write("1,val,0.")
  assert [e["epoch"] for e in iter_events(rd)] == [0]
  FactsWriter(rd, ())                          # a resumed run opens the folder
  assert open(fw.events_path).read() == good_ev
  assert open(fw.scalars_path).read() == good_sc
  with open(fw.scalars_path, "a") as f:
    f.write("x,val,0.5\n")                    # junk row: truncate survives it
  FactsWriter(rd, ()).truncate_after(0)
  assert open(fw.scalars_path).read() == good_sc


def test_full_disk_on_checkpoint_is_one_line(tmp_path, monkeypatch):
  ck = Checkpoints(str(tmp_path / "checkpoints"))
  st = {"w": jnp.ones((4, 3))}
  ck.save(0, st, {"epoch": 0}, 1.0)

  def full(*a, **k):
    os.makedirs(os.path.join(ck.directory, "2.orbax-checkpoint-tmp-9"))
    raise OSError(errno.ENOSPC, "No space left on device")
  monkeypatch.setattr(ck.mngr, "save", full)
  with pytest.raises(OutputError, match="cannot save the checkpoint of epoch 2"
                     ".*No space left") as err:
    ck.save(1, st, {"epoch": 1}, 0.5)   # 0-based epoch 1 = folder/epoch 2
  assert "\n" not in str(err.value)
  assert sorted(os.listdir(ck.directory)) == ["1"]   # partial save removed


def test_full_disk_on_config_snapshot_is_one_line(tmp_path, monkeypatch):
  real = writers.os.write

  def full(fd, data):
    raise OSError(errno.ENOSPC, "No space left on device")
  monkeypatch.setattr(writers.os, "write", full)
  rd = str(tmp_path / "run")
  os.makedirs(rd)
  with pytest.raises(OutputError, match="run: cannot write the config snapshot"
                     ": No space left") as err:
    rundir.write_config(rd, tiny_config(tmp_path), ["a=1"],
                        normalization={"x": 1})
  monkeypatch.setattr(writers.os, "write", real)
  assert "\n" not in str(err.value) and os.listdir(rd) == []   # no temp files


# ------------------------------------ 4. damaged checkpoints, 10. shape mismatch

def _two_checkpoints(tmp_path):
  ck = Checkpoints(str(tmp_path / "checkpoints"))
  st = {"w": jnp.arange(600.0).reshape(20, 30), "b": jnp.ones(3)}
  ck.save(0, st, {"epoch": 0}, 0.5)                   # best
  ck.save(1, {k: v + 1 for k, v in st.items()}, {"epoch": 1}, 1.0)   # latest
  ck.close()
  return str(tmp_path / "checkpoints"), st


def _largest_chunk(ck_dir):
  d = os.path.join(ck_dir, "2", "state", "ocdbt.process_0", "d")
  return max((os.path.join(d, f) for f in os.listdir(d)), key=os.path.getsize)


def _overwrite(path, offset, data):
  with open(path, "r+b") as f:
    f.seek(offset)
    f.write(data)


DAMAGE = {
    "truncated": lambda d: os.truncate(_largest_chunk(d), 10),
    "garbage": lambda d: _overwrite(_largest_chunk(d), 0, os.urandom(
        os.path.getsize(_largest_chunk(d)))),
    "flipped_bytes": lambda d: _overwrite(_largest_chunk(d), 40, b"\0" * 8),
    "deleted_manifest": lambda d: os.remove(
        os.path.join(d, "2", "state", "manifest.ocdbt")),
    "deleted_meta": lambda d: os.remove(os.path.join(d, "2", "meta", "metadata")),
    "garbage_meta": lambda d: _overwrite(
        os.path.join(d, "2", "meta", "metadata"), 0, b"\xff{not json"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damaged_newest_checkpoint_falls_back(tmp_path, damage):
  ck_dir, st = _two_checkpoints(tmp_path)
  DAMAGE[damage](ck_dir)
  said = []
  ck = Checkpoints(ck_dir)
  epoch, state_, meta = ck.restore_newest_good(abstract_like(st), said.append)
  assert (epoch, meta["epoch"]) == (0, 0)
  np.testing.assert_array_equal(np.asarray(state_["w"]), np.asarray(st["w"]))
  assert len(said) == 1 and "\n" not in said[0]
  # folders count epochs from 1: 2 = the newest (0-based epoch 1)
  assert said[0].startswith(f"warning: {ck_dir}/2:") and f"{ck_dir}/1" in said[0]
  assert os.listdir(tmp_path / "checkpoints_damaged") == ["2"]
  ck.save(1, st, {"epoch": 1}, 0.7)          # epoch 1 can be written again
  assert ck.latest_epoch() == 1


def test_no_checkpoint_restores_is_one_line(tmp_path):
  ck_dir, st = _two_checkpoints(tmp_path)
  for e in ("1", "2"):
    os.remove(os.path.join(ck_dir, e, "state", "manifest.ocdbt"))
  with pytest.raises(OutputError, match="no checkpoint restores") as err:
    Checkpoints(ck_dir).restore_newest_good(abstract_like(st), lambda s: None)
  assert "\n" not in str(err.value)


def test_checkpoint_shape_mismatch_names_the_array(tmp_path):
  ck_dir, st = _two_checkpoints(tmp_path)
  wrong = {"w": jnp.zeros((20, 31)), "b": jnp.ones(3)}
  with pytest.raises(OutputError, match=r"cfg.yaml edited.*w has shape \(20, 30\)"
                     r" in the checkpoint, the config builds \(20, 31\)"):
    Checkpoints(ck_dir).restore(0, abstract_like(wrong))


# ------------------------------------------- 6. data that cannot be trained on

def _rows(n=6, t=3, seed=0):
  rng = np.random.default_rng(seed)
  rows = rng.normal(size=(n, row_width(t)))
  rows[:, :t] = rng.integers(0, 4, size=(n, t))
  return rows


@pytest.mark.parametrize("col,value,match", [
    (1, 3e9, "type id 3e\\+09 at row 12, token 1 exceeds the maximum 65535"),
    (0, 1e9, "type id 1e\\+09 at row 12, token 0 exceeds"),
    (0, MAX_TYPE_ID + 1, "exceeds the maximum"),
    (7, 1e39, "value 1e\\+39 at row 12, column 7 exceeds"),
    (4, -2 * MAX_ABS_VALUE, "value -2e\\+10 at row 12, column 4"),
    (5, np.inf, "non-finite .* first at row 12, column 5")])
def test_validate_rows_is_a_pure_chunk_check(col, value, match):
  rows = _rows()
  validate_rows(rows, 3, "f.h5:X_train", row_offset=10)     # fine as given
  validate_rows(rows[:0], 3, "f.h5:X_train", row_offset=10)  # empty tail chunk
  rows[2, col] = value
  with pytest.raises(DataError, match=match):
    validate_rows(rows, 3, "f.h5:X_train", row_offset=10)
  rows[2, col] = MAX_TYPE_ID if col < 3 else MAX_ABS_VALUE   # the limits pass
  validate_rows(rows, 3, "f.h5:X_train", row_offset=10)


def test_bad_data_fails_before_any_folder(tmp_path):
  import thesis_jax
  rows = _rows(n=40, t=3).astype(np.float32)
  rows[5, 1] = 3e9
  path = tmp_path / "bad.h5"
  with h5py.File(path, "w") as f:
    for k in ("X_train", "X_val", "X_test"):
      f[k] = rows
  out = tmp_path / "out"
  cfg = tiny_config(out, **{"data.path": str(path), "data.n_tokens": 3})
  with pytest.raises(DataError, match="X_train: type id 3e\\+09 at row 5"):
    thesis_jax.train_model(cfg)
  assert not out.exists()


def test_folder_or_junk_as_data_path_is_one_line(tmp_path):
  from thesis_jax.data.h5 import read_splits
  with pytest.raises(DataError, match="is a folder, not an HDF5 file") as err:
    read_splits(str(tmp_path), {"train": "X_train"}, 3)
  junk = tmp_path / "junk.h5"
  junk.write_bytes(b"not hdf5" * 10)
  with pytest.raises(DataError, match="not a readable HDF5 file") as err2:
    read_splits(str(junk), {"train": "X_train"}, 3)
  assert "\n" not in str(err.value) + str(err2.value)


# ------------------------------------------------------- 10. hostile YAML

PAYLOAD = "!!python/object/apply:os.system ['touch {marker}']\n"


def test_yaml_payload_in_run_config_is_refused(tmp_path):
  from thesis_jax.facts.fake_runs import write_fake_run
  from thesis_jax.facts.readers import load_runs
  marker = tmp_path / "pwned"
  rd = write_fake_run(str(tmp_path / "run"), val_loss=[1.0], layout="thesis_jax")
  with open(os.path.join(rd, "cfg.yaml"), "w") as f:
    f.write(PAYLOAD.format(marker=marker))
  for fn in (lambda: rundir.load_config(rd), lambda: load_runs(run_dirs=[rd])):
    with pytest.raises(ConfigError, match="cfg.yaml: unreadable YAML") as err:
      fn()
    assert "\n" not in str(err.value)
  with open(os.path.join(rd, "overrides.yaml"), "w") as f:
    f.write(PAYLOAD.format(marker=marker))
  with pytest.raises(ConfigError, match="overrides.yaml: unreadable YAML"):
    rundir.read_overrides(rd)
  assert not marker.exists()


# -------------------------------------------- 9. reports on any grid shape

@pytest.mark.parametrize("grid", [
    pytest.param([("vq", 1.0)], marks=pytest.mark.slow),        # one run
    [("vq", 1.0), ("none", 1.0)],         # one shared globals_beta (the crash)
    pytest.param([("vq", 0.0), ("vq", 1.0)], marks=pytest.mark.slow)])
def test_reports_work_for_any_grid_shape(tmp_path, grid):
  from configs.reports import compare_globals_heads, compare_tokenizers
  from thesis_jax.facts.fake_runs import original_config, write_fake_run
  from thesis_jax.reports import run_report
  rds = [write_fake_run(
      str(tmp_path / "runs" / f"run_{i}"), val_loss=[2.0, 1.0 + i],
      config=original_config(latent_space=ls, globals_beta=b, seed=i),
      histories={"rec_tokens": [1.0, 0.5], "rec_globals": [1.0, 0.4]})
         for i, (ls, b) in enumerate(grid)]
  for mod, n_figs in ((compare_globals_heads, 6), (compare_tokenizers, 5)):
    c = mod.get_config()
    c.inputs.run_dirs = ",".join(rds)
    c.env.output_root = str(tmp_path)
    res = run_report(c)
    assert len(res.figures) == n_figs
    assert all(os.path.getsize(f) > 1000 for f in res.figures)
  with open(os.path.join(res.report_dir, "training", "summary.json")) as f:
    assert len(json.load(f)["groups"]) == len({ls for ls, _ in grid})
