"""Hyperparameter search: spaces, study folder, pruning, resume, report.

The fast tests train nothing: `fake_train` writes the facts a run with
val_loss(lr) would write, epoch by epoch through the driver's on_event hook,
so pruning, objectives and the report are checked on known numbers. The slow
test runs the real thing (4 tiny trials, 1 epoch each).
"""
import math
import os

import numpy as np
import pytest

optuna = pytest.importorskip("optuna")

from thesis_jax import search  # noqa: E402
from thesis_jax.config_tools import to_plain  # noqa: E402
from thesis_jax.errors import ConfigError  # noqa: E402
from thesis_jax.facts.fake_runs import write_fake_run  # noqa: E402


def search_config(tmp_path, arg="tiny", **search_updates):
  from thesis_jax.config_files import load
  c, _ = load(f"vq_ae:{arg}" if arg else "vq_ae", "search")
  c.base.logging.output_root = str(tmp_path)
  c.search.update(search_updates)
  return c


def val_curve(lr, epochs, beta=0.25):
  """Made-up val losses: best near lr = 1e-3 and small beta, falling with
  the epochs."""
  level = 0.1 + (math.log10(lr) + 3.0) ** 2 + 0.1 * beta
  return [level * (1.0 + 0.5 ** e) for e in range(epochs)]


def fake_train(cfg, overrides, on_event=None):
  """Writes what training with `cfg` would leave, calling on_event per epoch."""
  rd = cfg.logging.run_dir
  if cfg.phase1.trainer.lr == 3e-3:      # "diverges" (only enqueued exactly)
    from thesis_jax.errors import NonFiniteLossError
    raise NonFiniteLossError(f"non-finite loss at epoch 1 in {rd}")
  vals = val_curve(cfg.phase1.trainer.lr, cfg.phase1.trainer.epochs,
                   cfg.phase1.latent_space.beta)
  kw = dict(config=to_plain(cfg), overrides=overrides, layout="thesis_jax",
            histories={"rec_tokens": [v * 0.9 for v in vals]})
  for e in range(len(vals)):
    if on_event is not None:
      try:
        on_event("on_epoch_end", {"moment": "on_epoch_end", "epoch": e,
                                  "run_dir": rd,
                                  "histories": {"val_loss": vals[:e + 1]}}, {})
      except optuna.TrialPruned:
        write_fake_run(rd, val_loss=vals[:e + 1], complete=False,
                       **dict(kw, histories={"rec_tokens": [v * 0.9 for v in vals[:e + 1]]}))
        raise
  write_fake_run(rd, val_loss=vals, **kw)


def test_space_checks(tmp_path):
  c = search_config(tmp_path)
  base = c.base
  keys = search.check_space(c.space, base)
  assert keys["lr"] == "phase1.trainer.lr"
  assert keys["beta"] == "phase1.latent_space.beta"
  bad = [({"x": {"type": "uniform", "low": 0, "high": 1}}, "space.x.type"),
         ({"lr": {"type": "float", "low": 1.0, "high": 0.1}}, "low (1.0) must be < high"),
         ({"lr": {"type": "float", "low": 0.0, "high": 1.0, "log": True}}, "log=True needs low > 0"),
         ({"lr": {"type": "float", "low": 0.1, "high": 1.0, "lo": 1}}, "unknown field(s) lo"),
         ({"nope": {"type": "int", "low": 1, "high": 3}}, "'nope' is not a key"),
         ({"latent_dim": {"type": "categorical", "choices": ()}}, "non-empty"),
         ({"latent_dim": {"type": "categorical", "choices": ("x",)}}, "does not fit"),
         ({}, "no parameters")]
  for space, msg in bad:
    with pytest.raises(ConfigError, match=None) as e:
      search.check_space(space, base)
    assert msg in str(e.value), (space, str(e.value))
  # suggested values take the base config's types (int 10 -> float for beta)
  t = optuna.trial.FixedTrial({"lr": 1e-3, "latent_dim": 8, "codebook_size": 64,
                               "beta": 1, "globals_beta": 2})
  p = search.suggest(t, c.space, base, keys)
  assert p == {"lr": 1e-3, "latent_dim": 8, "codebook_size": 64, "beta": 1.0,
               "globals_beta": 2.0}
  assert isinstance(p["beta"], float)


def test_search_settings_are_checked(tmp_path):
  for upd, msg in (({"n_trials": 0}, "n_trials must be >= 1"),
                   ({"direction": "down"}, "search.direction"),
                   ({"pruner": "hyperband"}, "search.pruner")):
    with pytest.raises(ConfigError, match=msg):
      search.create_search(search_config(tmp_path, **upd))
  assert not os.path.exists(tmp_path / "multiruns")   # nothing half-made


def test_search_prunes_resumes_and_reports(tmp_path, capsys):
  c = search_config(tmp_path, n_trials=4, n_startup_trials=1, n_warmup_steps=0)
  c.base.phase1.trainer.epochs = 3
  sdir, spec = search.create_search(c)
  assert os.path.basename(sdir).startswith("search_")
  study = search.open_study(sdir, spec)
  common = {"latent_dim": 8, "codebook_size": 64, "beta": 0.25,
            "globals_beta": 1.0}
  # val at epoch 0: 0.25, 2.25 (worse than the median: pruned), then each
  # better than the trials before (not pruned)
  for lr, beta in ((1e-3, 0.25), (1e-4, 0.25), (1e-3, 0.1), (1e-3, 0.05)):
    study.enqueue_trial(dict(common, lr=lr, beta=beta))
  assert search.run_worker(sdir, train_fn=fake_train, max_trials=2) == 2
  states = [t.state.name for t in study.get_trials()]
  assert states == ["COMPLETE", "PRUNED", "WAITING", "WAITING"]
  t0, t1 = study.get_trials()[:2]
  assert t0.value == pytest.approx(min(val_curve(1e-3, 3, 0.25)))
  assert sorted(t1.intermediate_values) == [0]   # stopped after epoch 0
  # resume: a second worker fills the study up to n_trials and stops
  assert search.run_worker(sdir, train_fn=fake_train) == 2
  assert search.run_worker(sdir, train_fn=fake_train) == 0
  trials = search.open_study(sdir, spec).get_trials()
  assert len(trials) == 4 and trials[1].state.name == "PRUNED"
  for t in trials:
    rd = os.path.join(sdir, t.user_attrs["run_dir"])
    assert os.path.basename(rd).endswith(f"_job{t.number}")
    if t.state.name == "COMPLETE":
      assert t.value == pytest.approx(min(val_curve(t.params["lr"], 3,
                                                    t.params["beta"])))
      assert search.objective_value(rd, "rec_tokens", "minimize") == \
          pytest.approx(0.9 * t.value)
  table = search.summary_table(study, spec)
  assert "1 pruned" in table and "3 complete" in table
  assert "best: trial 3" in table

  # the folder reads like a sweep: trial parameters are swept columns
  from thesis_jax.facts.readers import load_runs
  runs = load_runs(sweep_dir=sdir)
  assert len(runs.summary) == 3 and len(runs.skipped) == 1
  assert {"lr", "latent_dim", "codebook_size", "beta", "globals_beta"} <= set(runs.swept)
  by_beta = dict(zip(runs.summary["beta"], runs.summary["loss.total_best"]))
  assert by_beta[0.1] == pytest.approx(min(val_curve(1e-3, 3, 0.1)))

  from thesis_jax.config_files import load
  from thesis_jax.reports import run_report
  rc, _ = load("search", "report")
  rc.inputs.sweep_dir = sdir
  res = run_report(rc)
  names = sorted(os.path.basename(f) for f in res.figures)
  assert names == ["figure-search_objective_over_trials.png",
                   "figure-search_parallel_coordinates.png",
                   "figure-search_param_importances.png"]
  assert "best trial 3" in res.text and "1 pruned" in res.text
  import json
  with open(os.path.join(res.report_dir, "training", "summary.json")) as f:
    s = json.load(f)["search"]
  assert s["states"] == {"complete": 3, "pruned": 1}
  assert s["best"]["trial"] == 3
  assert s["best"]["objective"] == pytest.approx(min(val_curve(1e-3, 3, 0.05)))
  assert set(s["importances"]) <= set(spec["space"])


def test_objective_must_be_a_history_key(tmp_path):
  c = search_config(tmp_path, n_trials=1, objective="nope", pruner="none")
  sdir, _ = search.create_search(c)
  with pytest.raises(ConfigError, match="'nope' is not a history key"):
    search.run_worker(sdir, train_fn=fake_train)


def test_cluster_workers_pull_from_the_study(tmp_path):
  import subprocess
  from thesis_jax.sweeps import LauncherOptions
  sdir, spec = search.create_search(search_config(tmp_path))
  opt = LauncherOptions(partition="gpu", env_setup="export SETUP_RAN=1")
  files, submit = search.write_cluster("slurm", sdir, str(tmp_path), spec, 3,
                                       opt)
  (script,) = files
  assert submit == f"sbatch {script}"
  text = open(script).read()
  assert "#SBATCH --array=0,1,2" in text and "#SBATCH --partition=gpu" in text
  assert "export SETUP_RAN=1" in text
  assert subprocess.run(["bash", "-n", script]).returncode == 0
  # every task runs the same worker (PYTHON=echo prints its command)
  worker = ["-m", "thesis_jax", "search", "--resume", sdir, "--worker",
            "--worker_index"]
  for task in ("0", "2"):
    out = subprocess.run(["bash", script], capture_output=True, text=True,
                         env=dict(os.environ, PYTHON="echo",
                                  SLURM_ARRAY_TASK_ID=task), timeout=30)
    assert out.stdout.split() == worker + [task], out.stderr
  files, submit = search.write_cluster("htcondor", sdir, str(tmp_path), spec, 2,
                                       LauncherOptions())
  sh, sub = files
  assert "queue job in (0 1)" in open(sub).read()
  env = {k: v for k, v in os.environ.items() if k != "SLURM_ARRAY_TASK_ID"}
  out = subprocess.run(["bash", sh, "1"], capture_output=True, text=True,
                       env=dict(env, PYTHON="echo"), timeout=30)
  assert out.stdout.split() == worker + ["1"], out.stderr
  with pytest.raises(ConfigError, match="unknown launcher"):
    search.write_cluster("pbs", sdir, "/repo", spec, 1, opt)


def test_two_workers_share_one_study(tmp_path):
  import threading
  c = search_config(tmp_path, n_trials=6, pruner="none")
  sdir, spec = search.create_search(c)
  ran, errors = [], []

  def worker(index):
    try:
      ran.append(search.run_worker(sdir, train_fn=fake_train, worker=index))
    except Exception as e:  # surfaced below
      errors.append(e)
  threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
  for t in threads:
    t.start()
  for t in threads:
    t.join(timeout=120)
  assert not errors
  trials = search.open_study(sdir, spec).get_trials()
  # each worker checks the budget before it asks: at most one extra trial
  assert 6 <= len(trials) <= 7 and sum(ran) == len(trials)
  assert all(t.state.name == "COMPLETE" for t in trials)
  dirs = [t.user_attrs["run_dir"] for t in trials]
  assert len(set(dirs)) == len(dirs)
  # the workers' samplers are seeded apart: no two trials alike
  assert len({tuple(sorted(t.params.items())) for t in trials}) == len(trials)
  for d in dirs:
    assert os.path.isfile(os.path.join(sdir, d, "facts", "events.jsonl"))


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Fixed parameter lr")   # 1e-7: off-range
def test_tiny_search_end_to_end(tmp_path):
  """3 real trials of 1 epoch: one pruned, a resume, objectives = facts,
  TensorBoard files from the live trackers."""
  pytest.importorskip("tensorboardX")
  c = search_config(tmp_path, n_trials=3)        # vq_ae:tiny (4 trials)
  c.base.logging.trackers = "tensorboard"
  sdir, spec = search.create_search(c)
  study = search.open_study(sdir, spec)
  common = {"latent_dim": 8, "codebook_size": 64, "beta": 0.25,
            "globals_beta": 1.0}
  study.enqueue_trial(dict(common, lr=3e-3))
  study.enqueue_trial(dict(common, lr=1e-7))     # learns nothing: pruned
  assert search.run_worker(sdir, max_trials=2) == 2
  t0, t1 = study.get_trials()
  assert (t0.state.name, t1.state.name) == ("COMPLETE", "PRUNED")
  assert t1.intermediate_values[0] > t0.intermediate_values[0]
  assert search.run_worker(sdir) == 1            # resume: fill up to 3
  trials = search.open_study(sdir, spec).get_trials()
  assert len(trials) == 3
  assert {t.state.name for t in trials} <= {"COMPLETE", "PRUNED"}

  from thesis_jax.facts.readers import load_runs
  runs = load_runs(sweep_dir=sdir)
  best = dict(zip(runs.summary["run_dir"], runs.summary["loss.total_best"]))
  for t in trials:
    rd = os.path.realpath(os.path.join(sdir, t.user_attrs["run_dir"]))
    if t.state.name == "COMPLETE":   # the objective is the facts' best val loss
      assert t.value == pytest.approx(best[rd], rel=1e-6)
      assert os.path.isdir(os.path.join(rd, "checkpoints"))
    else:
      assert rd not in best          # no on_train_end: skipped by readers
    from tests.test_tracking import tb_records
    recs = tb_records(os.path.join(rd, "tensorboard"))
    vals = [v.simple_value for ev in recs for v in ev.summary.value
            if v.tag == "val_loss"]
    np.testing.assert_allclose(vals, [t.intermediate_values[0]], rtol=1e-6)


def test_search_command(tmp_path, capsys):
  from thesis_jax.commands.search import run
  run(["--config", "vq_ae:tiny", f"--config.base.logging.output_root={tmp_path}",
       "--launcher", "slurm", "--tasks", "2", "--partition", "gpu"])
  out = capsys.readouterr().out
  assert "lr: float log [0.0001, 0.003]" in out and "submit with: sbatch" in out
  (sdir,) = [os.path.join(tmp_path, "multiruns", d)
             for d in os.listdir(tmp_path / "multiruns")]
  assert search.open_study(sdir, search.read_spec(sdir)).get_trials() == []
  for argv, msg in ((["--parallel", "0", "--config", "vq_ae:tiny"], "--parallel"),
                    ([], "give --config"),
                    (["--config", "vq_ae", "--config.space.lr.low=1.0"],
                     "space.lr: low (1.0) must be < high")):
    with pytest.raises(SystemExit) as e:
      run(argv)
    assert e.value.code == 2
    assert msg in capsys.readouterr().err
  assert len(os.listdir(tmp_path / "multiruns")) == 1   # errors made nothing


def test_diverged_trial_fails_and_the_worker_goes_on(tmp_path):
  c = search_config(tmp_path, n_trials=2, pruner="none")
  sdir, spec = search.create_search(c)
  study = search.open_study(sdir, spec)
  common = {"latent_dim": 8, "codebook_size": 64, "beta": 0.25,
            "globals_beta": 1.0}
  for lr in (3e-3, 1e-3, 2e-3):
    study.enqueue_trial(dict(common, lr=lr))
  assert search.run_worker(sdir, train_fn=fake_train) == 3
  states = [t.state.name for t in search.open_study(sdir, spec).get_trials()]
  assert states == ["FAIL", "COMPLETE", "COMPLETE"]   # the budget: 2 not failed
