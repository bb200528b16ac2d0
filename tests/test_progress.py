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


def test_long_epochs_print_lines_within_the_epoch(monkeypatch):
  """Within an epoch: a line at most every `every_s`, events/s from the end
  of the first chunk (compilation left out), the device waited for only
  after the first chunk and when a line is due; the next epoch starts over."""
  now = [0.0]
  monkeypatch.setattr(progress_mod.time, "perf_counter", lambda: now[0])
  out, waits = io.StringIO(), []
  p = progress_mod.Progress(2, stream=out, every_s=60.0)
  wait = lambda: waits.append(now[0])
  # first chunk (1,000 events) done at t=30 s (compilation), then 1,000
  # events per 10 s: 100 ev/s
  for i, t in enumerate([30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0]):
    now[0] = t
    p.chunk_done(0, 1000 * (i + 1), 20000, wait)
  assert waits == [30.0, 90.0]            # first chunk, then the due line
  (line,) = out.getvalue().splitlines()
  assert line == ("epoch   1/2 |  35% of its training (7,000/20,000 events) | "
                  "100 ev/s | training ETA 0:02:10")
  rec = SimpleNamespace(train_loss=1.0, val_loss=1.0, metrics={}, history={})
  p.epoch(0, rec, 1.0, 1.0)
  now[0] = 300.0
  p.chunk_done(1, 1000, 20000, wait)      # the next epoch's first chunk
  assert waits[-1] == 300.0 and len(out.getvalue().splitlines()) == 2
  quiet = progress_mod.Progress(2, enabled=False)
  quiet.chunk_done(0, 1000, 20000, wait)
  assert len(waits) == 3                  # disabled: never waits
