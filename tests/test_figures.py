"""Every training-figure family and every report figure, drawn on tiny runs
and inspected as matplotlib objects before saving: labelled axes, no
internal names in titles, integer ticks where counts or epochs are plotted."""
import os
import re

import numpy as np
import pytest
from matplotlib.figure import Figure

from thesis_jax.facts.fake_runs import original_config, write_fake_run

# snake_case identifiers (moment names, history/config keys) and
# placeholders that must not reach a title
INTERNAL = re.compile(r"\b[a-z][a-z0-9]*_[a-z0-9_]+\b|±\s*0\b|\(n=1\)")


def _is_count(label: str) -> bool:
  """Axes whose values are counts (or epochs): ticks must be integers."""
  low = label.lower().strip()
  return (low.startswith("epoch") or "(count)" in low or low in ("tokens", "events")
          or "codes used" in low)


@pytest.fixture
def drawn(monkeypatch):
  """Every Figure saved during the test: [(path, Figure)]."""
  out = []
  orig = Figure.savefig

  def spy(self, fname, *a, **kw):
    out.append((str(fname), self))
    return orig(self, fname, *a, **kw)
  monkeypatch.setattr(Figure, "savefig", spy)
  return out


def _texts(fig):
  yield fig._suptitle.get_text() if fig._suptitle else ""
  for ax in fig.axes:
    yield ax.get_title()


def _integer_ticks(ticks, lim) -> bool:
  lo, hi = sorted(lim)
  inside = [t for t in ticks if lo - 1e-9 <= t <= hi + 1e-9]
  return len(inside) >= 1 and all(abs(t - round(t)) < 1e-9 for t in inside)


def check_figure(path, fig, allowed=()):
  """Asserts the referee's checklist on one figure."""
  name = os.path.basename(path)
  fig.canvas.draw()
  for text in _texts(fig):
    for a in allowed:
      text = text.replace(a, "")
    assert not INTERNAL.search(text), f"{name}: internal name in title {text!r}"
  for ax in fig.axes:
    if not ax.get_visible() or ax.get_label() == "<colorbar>":
      continue
    if not (ax.lines or ax.collections or ax.patches or ax.images):
      continue
    assert ax.get_xlabel().strip(), f"{name}: panel '{ax.get_title()}' has no x label"
    assert ax.get_ylabel().strip(), f"{name}: panel '{ax.get_title()}' has no y label"
    for axis, label, lim, ticks in (
        ("x", ax.get_xlabel(), ax.get_xlim(), ax.get_xticks()),
        ("y", ax.get_ylabel(), ax.get_ylim(), ax.get_yticks())):
      low = label.lower()
      scale = ax.get_xscale() if axis == "x" else ax.get_yscale()
      if _is_count(low) and scale == "linear":
        assert _integer_ticks(ticks, lim), \
            f"{name}: {axis} axis '{label}' ticks {list(ticks)} are not integers"
    leg = ax.get_legend()
    if leg is not None and ax.lines:
      # a legend must not hide a plotted point
      box = leg.get_window_extent()
      for line in ax.lines:
        if line.get_marker() in (None, "None", "", " ") or not line.get_visible():
          continue
        xy = ax.transData.transform(np.column_stack(line.get_data()).astype(float))
        hidden = [p for p in xy if box.contains(*p)]
        assert not hidden, f"{name}: legend of '{ax.get_title()}' hides a point"


def _families_run(tmp_path, epochs):
  import thesis_jax
  from conftest import tiny_config
  c = tiny_config(tmp_path, **{"phase1.trainer.epochs": epochs,
                               "logging.make_plots": True,
                               "logging.save_artifacts": False,
                               "experiment.name": f"figs{epochs}"})
  c.data.synthetic.update(n_train=256, n_val=128, n_test=128)
  c.phase1.latent_space.kmeans_init = False
  return thesis_jax.train_model(c)


@pytest.mark.slow
def test_training_families(tmp_path, drawn):
  """Two epochs: the first epoch's figures hold one point per curve (the
  case that used to get ticks 0.945-1.050)."""
  epochs = 2
  res = _families_run(tmp_path, epochs)
  names = sorted({os.path.basename(p).split("-")[0] for p, _ in drawn})
  assert names == ["codebook", "latency", "losses", "metrics", "recon"]
  last = [os.path.basename(p) for p, _ in drawn if "on_train_end" in p]
  assert f"losses-on_train_end-e{epochs:03d}.png.tmp.png" in last, last
  run = os.path.basename(res.run_dir)
  for path, fig in drawn:
    check_figure(path, fig, allowed=(run,))
  titles = " ".join(t for _, f in drawn for t in _texts(f))
  assert f"epoch {epochs}" in titles and "epoch 0" not in titles
  assert any("-on_epoch_end-e001" in p for p, _ in drawn)


def test_adversarial_and_diffusion_families(tmp_path, drawn):
  from thesis_jax.monitoring.families import adversarial, diffusion
  from thesis_jax.monitoring import PlotContext
  n = 4
  h = {"train_loss": [1.0, 0.8, 0.7, 0.6], "val_loss": [1.1, 0.9, 0.8, 0.7],
       "d_loss": [0.7] * n, "g_loss": [0.8] * n, "d_real": [0.3] * n,
       "d_fake": [-0.2] * n, "val_d_real": [0.2] * n, "val_d_fake": [-0.1] * n,
       "r1": [0.1, 0.2, 0.05, 0.3], "diffusion_loss": [0.5, 0.4, 0.3, 0.3],
       "recon_mse": [0.9, 0.7, 0.6, 0.5]}
  payload = {"epoch": n - 1, "histories": h, "diffusion_loss_vs_t": {
      "t_frac": [0.1, 0.5, 0.9], "loss": [0.1, 0.3, 0.6]}}
  for moment in ("on_epoch_end", "on_train_end"):
    ctx = PlotContext(str(tmp_path / "run_x"), moment, payload)
    for fam in (adversarial, diffusion):
      for suffix, fig in fam.plot(ctx):
        check_figure(f"{fam.__name__}-{moment}", fig, allowed=("run_x",))


@pytest.mark.slow
def test_report_figures(tmp_path, drawn):
  from thesis_jax.config_files import load
  from thesis_jax.reports import run_report
  root = tmp_path / "outputs"
  sweep = root / "multiruns" / "exp_20251103-140953_gh"
  sweep.mkdir(parents=True)
  job = 0
  for ls in ("none", "linear", "vq"):
    for beta in (0.0, 1.0):
      for seed in ((0, 1) if ls == "vq" else (0,)):   # n=1 and n=2 cells
        v = [3.0, 1.3 + job / 1000, 1.30 + job / 500]
        write_fake_run(str(root / "runs" / f"run_20251103-140953_gh_job{job}"),
                       val_loss=v, histories={"rec_tokens": [1.0, 0.5, 0.51 + job / 1000],
                                              "rec_globals": [1.3, 1.3 + job / 400, 1.32],
                                              "perplex": [2, 3, 4]},
                       config=original_config(ls, beta, seed), seed=seed,
                       code_counts=16 if ls == "vq" else 0,
                       overrides=[f"phase1/latent_space={ls}",
                                  f"phase1.decoder.globals_beta={beta:g}",
                                  f"phase1.trainer.seed={seed}"])
        job += 1
  for name in ("compare_globals_heads", "compare_tokenizers"):
    cfg = load(name, "report")[0]
    cfg.inputs.sweep_dir = str(sweep)
    cfg.env.output_root = str(tmp_path / "rep")
    run_report(cfg)
  assert len(drawn) >= 10
  for path, fig in drawn:
    check_figure(path, fig)
  heat = [f for p, f in drawn if "grid_best_rec_globals" in p][0]
  cells = [t.get_text() for t in heat.axes[0].texts]
  assert "(1 run)" in " ".join(cells) and "(2 runs)" in " ".join(cells)
  assert "colours span only" in heat.axes[0].get_title()   # 1.30-1.32


def test_inference_figures(tmp_path, drawn):
  from thesis_jax.reports.inference import figures
  rng = np.random.default_rng(0)
  clean = rng.exponential(1.0, 300)
  anom = rng.exponential(2.0, 300)
  figures.roc_figure(str(tmp_path / "roc.png"), "3 runs", {
      "Gaussian noise": [{"label": "σ = 0.1", "scores": anom, "auroc": 0.7}]},
      clean, "reconstruction error")
  figures.histogram_figure(str(tmp_path / "h.png"), "3 runs", {
      "Gaussian noise": {"label": "σ = 0.1", "scores": anom}}, clean,
      "reconstruction error")
  for path, fig in drawn:
    check_figure(path, fig)
    for ax in fig.axes:
      for label in (ax.get_xlabel(), ax.get_ylabel()):
        assert "_" not in label.replace("$", "").replace(r"\varepsilon_", ""), label


def test_codebook_drawn_with_only_on_train_end(tmp_path, drawn, caplog):
  """The README's command: families=losses,codebook, moments=on_train_end.
  The code counts come from the last on_epoch_end event in the facts."""
  import logging
  import ml_collections
  from thesis_jax.facts.schema import build_event
  from thesis_jax.facts.writers import FactsWriter
  from thesis_jax.monitoring.orchestrator import handle_event
  run = str(tmp_path / "run_cb")
  facts = FactsWriter(run, ())
  hist = {"train_loss": [1.0, 0.5], "val_loss": [1.1, 0.6]}
  facts.event(build_event("on_epoch_end", run, meta={}, epoch=1, histories=hist,
                          extra={"code_counts": [5, 0, 3, 9]}))
  end = build_event("on_train_end", run, meta={}, epoch=1, histories=hist)
  facts.event(end)
  cfg = ml_collections.ConfigDict({"make_plots": True,
                                   "families": ("losses", "codebook"),
                                   "moments": ("on_train_end",)})
  paths = handle_event(cfg, "on_train_end", end, run)
  assert sorted(os.path.basename(p) for p in paths) == [
      "codebook-on_train_end-e002.png", "losses-on_train_end-e002.png"]
  # a run without a codebook says why, once
  other = str(tmp_path / "run_linear")
  with caplog.at_level(logging.WARNING, logger="thesis_jax.monitoring"):
    for _ in range(2):
      handle_event(cfg, "on_train_end", dict(end, run_dir=other), other)
  assert caplog.text.count("figure family 'codebook' skipped: no code counts") == 1
