"""Sweeps: grid expansion, the frozen base config, and a 3 x 2 sweep end to end
(`python -m experiments.sweep` as a subprocess, jobs as subprocesses), its
resume after killed jobs, and an isolated failing job.

Subprocess count is kept low: one shared 3 x 2 sweep (6 jobs, 2 at a time),
2 resumed jobs, a 2-job failing sweep; all share one JAX compilation cache.
"""
import csv
import json
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from thesis_jax.errors import ConfigError
from thesis_jax.sweeps import basecfg, grid, runner, state
from thesis_jax.sweeps.plan import create_sweep, plan_jobs
from thesis_jax.sweeps.summary import summary_table

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GLOBALS_CFG = os.path.join(ROOT, "configs/experiments/compare_globals_heads.py")


def original_discovery(exp_dir):
  """thesis-ml's rule for a sweep's job runs (issue 15): folders
  `{output_root}/runs/run_{stamp}_{name}_job{N}` with the `exp_{stamp}_{name}`
  folder's stamp and name (output_root = the parent of `multiruns/`), or run
  folders (facts/ + a config snapshot) that are direct children of `exp_`."""
  m = re.fullmatch(r"exp_(\d{8}-\d{6})_(.+)", os.path.basename(exp_dir))
  root = os.path.dirname(os.path.dirname(exp_dir))
  pat = re.compile(rf"run_{m[1]}_{re.escape(m[2])}_job\d+")
  found = [os.path.join(root, "runs", d)
           for d in sorted(os.listdir(os.path.join(root, "runs")))
           if pat.fullmatch(d)] if os.path.isdir(os.path.join(root, "runs")) else []
  is_run = lambda d: (os.path.isdir(os.path.join(d, "facts")) and any(
      os.path.exists(os.path.join(d, c)) for c in (".hydra/config.yaml", "cfg.yaml")))
  found += [os.path.join(exp_dir, d) for d in sorted(os.listdir(exp_dir))
            if is_run(os.path.join(exp_dir, d))]
  return found


def test_job_run_folders_follow_the_original_discovery_rule(tmp_path):
  """Planned job folders, once written, are found by thesis-ml's rule and by
  thesis_jax's reader; nothing else in the exp folder looks like a run."""
  from thesis_jax.facts.discovery import discover_runs
  c = _exp_config("smoke")
  c.base.logging.output_root = str(tmp_path)
  exp, sw = create_sweep(c)
  dirs = []
  for j in sw["jobs"]:
    rd = basecfg.load_base(exp, f"job{j['job']}").logging.run_dir
    assert rd == os.path.join(exp, j["run_dir"])
    os.makedirs(os.path.join(rd, "facts"))
    open(os.path.join(rd, "cfg.yaml"), "w").close()
    dirs.append(rd)
  assert original_discovery(exp) == sorted(dirs)
  assert sorted(discover_runs(exp)) == sorted(dirs)


def _exp_config(arg="smoke"):
  from configs.experiments.compare_globals_heads import get_config
  return get_config(arg)


# ---------------------------------------------------------------- unit level

def test_expand_is_cartesian_last_axis_fastest():
  c = _exp_config("")
  axes, keys, values, jobs = grid.expand(c.grid, c.base, c.axes)
  assert axes == ["latent_space", "globals_beta", "seed"]
  assert keys == {"latent_space": "phase1.latent_space.name",
                  "globals_beta": "phase1.decoder.globals_beta",
                  "seed": "phase1.trainer.seed"}
  assert len(jobs) == 27
  assert jobs[0] == {"latent_space": "none", "globals_beta": 0.0, "seed": 0}
  assert jobs[1] == {"latent_space": "none", "globals_beta": 0.0, "seed": 1}
  assert jobs[3] == {"latent_space": "none", "globals_beta": 1.0, "seed": 0}
  assert jobs[9] == {"latent_space": "linear", "globals_beta": 0.0, "seed": 0}
  assert jobs[26] == {"latent_space": "vq", "globals_beta": 10.0, "seed": 2}
  assert grid.job_overrides(jobs[26], keys) == [
      "phase1.latent_space.name=vq", "phase1.decoder.globals_beta=10.0",
      "phase1.trainer.seed=2"]


def test_axis_values_parse_flag_strings_and_coerce_to_field_type():
  # ml_collections hands `--config.grid.latent_space=none,vq` over as one string
  assert grid.axis_values(("none,linear, vq",)) == ["none", "linear", "vq"]
  assert grid.axis_values("0,1") == [0, 1]
  assert grid.axis_values((0, 1)) == [0, 1]
  assert grid.axis_values(5) == [5]
  base = _exp_config("").base
  _, keys, values, jobs = grid.expand(
      {"globals_beta": (0, 10), "phase1__trainer__lr": "1e-3,3e-4",
       "mask_padding": ("True,false",)}, base)
  assert values["globals_beta"] == [0.0, 10.0]
  assert all(isinstance(v, float) for v in values["globals_beta"])
  assert keys["phase1__trainer__lr"] == "phase1.trainer.lr"
  assert values["phase1__trainer__lr"] == [1e-3, 3e-4]
  assert values["mask_padding"] == [True, False]
  assert len(jobs) == 8
  # sorted axis order when none is given: globals_beta, mask_padding, lr
  assert list(jobs[1].values()) == [0.0, True, 3e-4]


def test_bad_grids_fail_before_anything_runs(tmp_path):
  base = _exp_config("").base
  with pytest.raises(ConfigError, match="phase1.trainer.lrr"):
    grid.expand({"phase1__trainer__lrr": (1,)}, base)
  with pytest.raises(ConfigError, match="phase1.trainer.seed"):
    grid.expand({"seed": ("one",)}, base)
  with pytest.raises(ConfigError, match="axes: 'sed'"):
    grid.expand({"seed": (0,)}, base, axes=("sed",))
  c = _exp_config("smoke")
  c.grid.latent_space = ("none", "vqq")
  with pytest.raises(ConfigError, match=r"job 2 .*vqq"):
    plan_jobs(c)


def test_base_config_roundtrip_keeps_types_and_sets_job_run_dir(tmp_path):
  import ml_collections
  base = _exp_config("smoke").base
  base.data.limit_ref = ml_collections.FieldReference(None, field_type=int)
  basecfg.write_base(str(tmp_path), base, "run_20250101-000000_x")
  back = basecfg.load_base(str(tmp_path))
  assert back.to_dict().keys() == base.to_dict().keys()
  assert back.phase1.encoder.enc_hidden == (32, 32)
  assert back.data.limit_ref is None
  back.data.limit_ref = 7           # still typed: overridable
  job = basecfg.load_base(str(tmp_path), "job3")
  assert job.logging.run_dir == os.path.join(
      str(tmp_path), "run_20250101-000000_x_job3")
  with pytest.raises(ConfigError, match="jobN"):
    basecfg.load_base(str(tmp_path), "foo")


def test_planning_never_starts_a_jax_backend():
  """The sweep process must not take GPU memory its jobs need."""
  code = ("from configs.experiments.compare_globals_heads import get_config\n"
          "from thesis_jax.sweeps.plan import create_sweep, plan_jobs\n"
          "plan_jobs(get_config())\n"
          "from jax._src import xla_bridge\n"
          "print(len(xla_bridge._backends))")
  p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                     text=True, timeout=120)
  assert p.returncode == 0, p.stderr
  assert p.stdout.strip() == "0"


def test_cpu_slots_split_cores(monkeypatch):
  monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
  slots = runner.make_slots(2)
  cores = sorted(os.sched_getaffinity(0))
  if len(cores) >= 2:
    assert [len(s.cpus) for s in slots] == [len(cores) // 2] * 2
    assert not set(slots[0].cpus) & set(slots[1].cpus)
  monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2,3")
  gpu = runner.make_slots(2)
  assert [s.env["CUDA_VISIBLE_DEVICES"] for s in gpu] == ["0,1", "2,3"]
  assert runner.make_slots(3, devices="5")[2].env == {
      "CUDA_VISIBLE_DEVICES": "5", "XLA_PYTHON_CLIENT_PREALLOCATE": "false"}


# ---------------------------------------------------------------- end to end

def _env(cache):
  return dict(os.environ, JAX_COMPILATION_CACHE_DIR=str(cache),
              JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
              JAX_PLATFORMS="cpu")


def _sweep_cli(args, cache, timeout=600):
  return subprocess.run([sys.executable, "-m", "experiments.sweep"] + args,
                        cwd=ROOT, env=_env(cache), capture_output=True,
                        text=True, timeout=timeout)


@pytest.fixture(scope="session")
def jax_cache(tmp_path_factory):
  return tmp_path_factory.mktemp("jax_cache")


@pytest.fixture(scope="module")
def sweep_3x2(tmp_path_factory, jax_cache):
  out = tmp_path_factory.mktemp("sweep_out")
  p = _sweep_cli([
      "--config", GLOBALS_CFG + ":smoke",
      f"--config.base.logging.output_root={out}",
      "--config.grid.latent_space=none,linear,vq",
      "--config.grid.globals_beta=0,10", "--parallel", "2"], jax_cache)
  exps = os.listdir(os.path.join(out, "multiruns"))
  assert len(exps) == 1, p.stdout + p.stderr
  return os.path.join(out, "multiruns", exps[0]), p


def _events(run_dir):
  with open(os.path.join(run_dir, "facts", "events.jsonl")) as f:
    return [json.loads(l) for l in f]


@pytest.mark.slow
def test_failed_job_is_isolated_and_reported(tmp_path, jax_cache, monkeypatch,
                                             capsys):
  import ml_collections
  from thesis_jax.sweeps.plan import create_sweep
  c = _exp_config("smoke")
  c.base.logging.output_root = str(tmp_path)
  # job 0 reads a data file that does not exist: it must fail alone (job 1
  # compiles what job 5 of sweep_3x2 runs: vq, globals_beta 10; shared cache)
  c.grid = ml_collections.ConfigDict(
      {"data__path": ("/nonexistent/events.h5", ""), "globals_beta": (10.0,),
       "seed": (3,)})
  c.axes = ("data__path", "globals_beta", "seed")
  exp, sw = create_sweep(c)
  monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", str(jax_cache))
  ok = runner.run_jobs(exp, sw, [(0, False), (1, False)], ROOT, echo=False)
  assert ok is False
  sw = state.read_sweep(exp)
  assert [j["status"] for j in sw["jobs"]] == ["failed", "done"]
  assert sw["jobs"][0]["returncode"] == 1
  assert sw["jobs"][0]["error"].startswith("error: /nonexistent/events.h5")
  assert not os.path.exists(os.path.join(exp, sw["jobs"][0]["run_dir"]))
  assert sw["jobs"][1]["best_val_loss"] > 0
  assert "job 0 FAILED (exit 1): error: /nonexistent" in capsys.readouterr().out
  assert summary_table(sw).splitlines()[-1] == "1/2 jobs done; failed: 0"
  # the command line: --resume reruns only job 0, which fails again: exit 1
  p = _sweep_cli(["--resume", exp], jax_cache)
  assert p.returncode == 1
  assert "1 finished job(s) skipped, 0 resumed from checkpoints, " \
         "1 started again" in p.stdout
  assert [j["attempts"] for j in state.read_sweep(exp)["jobs"]] == [2, 1]


@pytest.mark.slow
def test_sweep_end_to_end(sweep_3x2):
  exp, p = sweep_3x2
  assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
  m = re.fullmatch(r"exp_(\d{8}-\d{6})_compare_globals_heads",
                   os.path.basename(exp))
  assert m
  stamp = m.group(1)
  sw = state.read_sweep(exp)
  assert sw["grid"] == {"latent_space": ["none", "linear", "vq"],
                        "globals_beta": [0.0, 10.0], "seed": [0]}
  assert [j["params"]["globals_beta"] for j in sw["jobs"]] == [0.0, 10.0] * 3
  runs = sorted(r for r in os.listdir(exp) if r.startswith("run_"))
  assert runs == [f"run_{stamp}_compare_globals_heads_job{i}" for i in range(6)]
  assert sorted(original_discovery(exp)) == [os.path.join(exp, r) for r in runs]
  for j in sw["jobs"]:
    rd = os.path.join(exp, j["run_dir"])
    assert j["status"] == "done" and j["returncode"] == 0
    # overrides.yaml holds exactly the swept overrides
    with open(os.path.join(rd, "overrides.yaml")) as f:
      assert yaml.safe_load(f) == j["overrides"]
    with open(os.path.join(rd, "cfg.yaml")) as f:
      cfg = yaml.safe_load(f)
    beta = j["params"]["globals_beta"]
    assert cfg["phase1"]["latent_space"]["name"] == j["params"]["latent_space"]
    assert cfg["phase1"]["decoder"]["globals_beta"] == beta
    assert cfg["logging"]["run_dir"] == rd
    evs = _events(rd)
    assert [e["moment"] for e in evs] == [
        "on_start", "on_epoch_end", "on_train_end", "on_test_end"]
    h = evs[-2]["histories"]
    # the swept beta really weights the globals loss of this run
    total = (h["rec_tokens"][0] + h["commit"][0] + h["codebook"][0]
             + beta * h["rec_globals"][0])
    assert h["val_loss"][0] == pytest.approx(total, rel=1e-5)
    assert (h["perplex"][0] is not None) == (j["params"]["latent_space"] == "vq")
    with open(os.path.join(rd, "facts", "scalars.csv")) as f:
      vals = [float(r["val_loss"]) for r in csv.DictReader(f)
              if r["split"] == "val"]
    assert j["best_val_loss"] == pytest.approx(min(vals), rel=1e-7)
    assert os.path.getsize(os.path.join(exp, j["log"])) > 0
  table = p.stdout[p.stdout.index("job  status"):]
  assert "6/6 jobs done" in table
  assert re.search(r"\n5\s+done\s+vq\s+10\.0\s+0\s+\d", table)
  assert "--config.inputs.sweep_dir=" + exp in p.stdout


@pytest.mark.slow
def test_report_reader_finds_the_swept_parameters(sweep_3x2):
  readers = pytest.importorskip("thesis_jax.facts.readers")
  exp, _ = sweep_3x2
  runs = readers.load_runs(sweep_dir=exp)
  assert runs.swept == ["latent_space", "globals_beta", "seed"]
  sw = state.read_sweep(exp)
  got = runs.summary.sort_values("run_dir").reset_index(drop=True)
  assert len(got) == 6
  for j, (_, row) in zip(sw["jobs"], got.iterrows()):
    assert row["run_dir"].endswith(j["run_dir"])
    assert row["latent_space"] == row["tokenizer"] == j["params"]["latent_space"]
    assert row["globals_beta"] == j["params"]["globals_beta"]
    assert row["seed"] == j["params"]["seed"]
    assert row["loss.total_best"] == pytest.approx(j["best_val_loss"], rel=1e-7)


@pytest.mark.slow
def test_resume_runs_only_what_is_missing(sweep_3x2, tmp_path, jax_cache):
  src, _ = sweep_3x2
  exp = str(tmp_path / os.path.basename(src))
  shutil.copytree(src, exp)
  sw = state.read_sweep(exp)
  rd = {j["job"]: os.path.join(exp, j["run_dir"]) for j in sw["jobs"]}
  before = {i: open(os.path.join(r, "facts", "events.jsonl")).read()
            for i, r in rd.items()}
  # job 1: killed after its epoch checkpoint, before on_train_end
  ev_path = os.path.join(rd[1], "facts", "events.jsonl")
  evs = _events(rd[1])
  with open(ev_path, "w") as f:
    f.writelines(json.dumps(e) + "\n" for e in evs[:2])
  # job 4: killed inside its first epoch (no checkpoint yet)
  shutil.rmtree(os.path.join(rd[4], "checkpoints"))
  with open(os.path.join(rd[4], "facts", "events.jsonl"), "w") as f:
    f.write(before[4].splitlines()[0] + "\n")
  sw["jobs"][4]["status"] = "running"
  state.write_sweep(exp, sw)

  p = _sweep_cli(["--resume", exp], jax_cache)
  assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
  assert ("4 finished job(s) skipped, 1 resumed from checkpoints, "
          "1 started again") in p.stdout
  after = state.read_sweep(exp)
  assert [j["attempts"] for j in after["jobs"]] == [1, 2, 1, 1, 2, 1]
  assert all(j["status"] == "done" for j in after["jobs"])
  for i in (0, 2, 3, 5):
    assert open(os.path.join(rd[i], "facts", "events.jsonl")).read() == before[i]
  for i in (1, 4):
    moments = [e["moment"] for e in _events(rd[i])]
    assert moments == ["on_start", "on_epoch_end", "on_train_end", "on_test_end"]
  with open(os.path.join(exp, "logs", "job1.log")) as f:
    assert runner.RESUME_FLAG in f.read()
  # resumed from the checkpoint: no new epoch, same test loss; rerun: same losses
  old1 = [json.loads(l) for l in before[1].splitlines()]
  assert _events(rd[1])[1] == old1[1]
  assert _events(rd[1])[3]["metrics"]["test_loss"] == pytest.approx(
      old1[3]["metrics"]["test_loss"], rel=1e-6)
  old4 = [json.loads(l) for l in before[4].splitlines()]
  assert _events(rd[4])[1]["val_loss"] == pytest.approx(old4[1]["val_loss"],
                                                        rel=1e-5)


def test_summary_table_formats_missing_values():
  sw = {"axes": ["seed"], "jobs": [
      {"job": 0, "status": "done", "params": {"seed": 0},
       "best_val_loss": 0.123456789, "time_s": 12.345},
      {"job": 1, "status": "failed", "params": {"seed": 1},
       "best_val_loss": None, "time_s": None}]}
  lines = summary_table(sw).splitlines()
  assert lines[0].split() == ["job", "status", "seed", "best", "val", "loss",
                              "time", "[s]"]
  assert lines[2].split() == ["0", "done", "0", "0.12346", "12.3"]
  assert lines[3].split() == ["1", "failed", "1", "-", "-"]
  assert lines[-1] == "1/2 jobs done; failed: 1"
