"""Console progress: epochs counted from 1, ETA from the whole wall time of
an epoch (figures and checkpoints included), first epoch (compilation) left
out once a later one is measured."""
import io
from types import SimpleNamespace

from thesis_jax.train import progress as progress_mod


def test_eta_counts_everything_after_the_first_epoch(monkeypatch):
  clock = iter([0.0, 100.0, 110.0, 120.0])   # start, then after epochs 1-3
  monkeypatch.setattr(progress_mod.time, "perf_counter", lambda: next(clock))
  out = io.StringIO()
  p = progress_mod.Progress(5, stream=out)
  rec = SimpleNamespace(train_loss=1.0, val_loss=1.0, metrics={}, history={})
  # epoch_time (train + validation) is 2 s, but each epoch takes 10 s of
  # wall time with plotting: the ETA must use the 10 s
  for e in range(3):
    p.epoch(e, rec, 2.0, 1000.0)
  lines = out.getvalue().splitlines()
  assert lines[0].startswith("epoch   1/5")
  assert lines[0].endswith("ETA 0:06:40")    # 4 epochs x 100 s (only epoch 1)
  assert lines[1].endswith("ETA 0:00:30")    # 3 x 10 s: epoch 1 left out
  assert lines[2].startswith("epoch   3/5") and lines[2].endswith("ETA 0:00:20")
