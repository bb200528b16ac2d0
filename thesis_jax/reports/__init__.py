"""Reports over finished run folders (thesis_jax and original thesis-ml).

    import thesis_jax
    from thesis_jax.reports import run_report
    cfg = thesis_jax.get_config("compare_tokenizers", kind="report")
    cfg.inputs.sweep_dir = "outputs/multiruns/exp_..."
    result = run_report(cfg)      # result.report_dir, result.text, ...

Reports are listed by name in `driver.REPORTS`; the interface is `base.Report`.
"""
from thesis_jax.reports.base import Report


def run_report(config):
  """Builds `config.report`; see `thesis_jax/reports/driver.py`."""
  from thesis_jax.reports.driver import run_report as _run
  return _run(config)
