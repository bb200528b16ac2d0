"""Keys shared by every report config (imported by the report configs)."""
import ml_collections


def inference_defaults():
  """`configs/reports/inference_defaults.py` when present, else disabled."""
  from thesis_jax.config_files import sibling
  try:
    module = sibling(__file__, "inference_defaults")
  except FileNotFoundError:
    return ml_collections.ConfigDict({"enabled": False})
  return module.inference_config()


def base_config(report: str, arg: str = ""):
  """The shared keys of report `report`; report configs have no variants, so
  a non-empty `arg` (`--config NAME:arg`) is refused."""
  if arg:
    raise ValueError(f"configs/reports/{report}.py: unknown variant '{arg}'")
  c = ml_collections.ConfigDict()
  c.report = report                 # registry name (thesis_jax/reports/)
  c.name = report                   # report folder suffix
  c.inputs = ml_collections.ConfigDict({
      "sweep_dir": "",              # a multiruns/exp_* folder (or a runs/ folder)
      "run_dirs": "",               # comma-separated run folders
  })
  c.env = ml_collections.ConfigDict({"output_root": ""})  # "" -> inferred
  # Keep runs whose column matches one of the comma-separated values.
  c.select = ml_collections.ConfigDict({"encoder": "", "tokenizer": "", "seed": ""})
  c.figures = ml_collections.ConfigDict({"dpi": 120})
  c.inference = inference_defaults()
  return c
