"""One parser for command-line values: comma lists, types, suggestions;
configs found by name; paths made absolute."""
import os

import pytest

from thesis_jax import config_files
from thesis_jax.config_tools import (apply_assignments, resolve_paths,
                                     split_list)
from thesis_jax.errors import ConfigError


def test_split_list_forms():
  assert split_list("losses,codebook") == ["losses", "codebook"]
  assert split_list("('a', 'b')") == ["a", "b"]
  assert split_list("[1, 2]") == ["1", "2"]
  assert split_list("") == [] and split_list("()") == []
  assert split_list(("a,b", "c")) == ["a", "b", "c"]


def test_values_typed_like_defaults():
  c = config_files.load("default")[0]
  apply_assignments(c, ["logging.families=losses,codebook",
                        "phase1.encoder.enc_hidden=64,32",
                        "phase1.trainer.lr=1", "logging.progress=false",
                        "phase1.decoder.globals_hidden=()"])
  assert c.logging.families == ("losses", "codebook")
  assert c.phase1.encoder.enc_hidden == (64, 32)
  assert c.phase1.trainer.lr == 1.0 and isinstance(c.phase1.trainer.lr, float)
  assert c.logging.progress is False
  assert c.phase1.decoder.globals_hidden == ()


@pytest.mark.parametrize("kv,msg", [
    ("phase1.trainer.epoch=5", "did you mean phase1.trainer.epochs?"),
    ("trainer.epochs=5", "did you mean phase1.trainer.epochs?"),
    ("phase1.encoder.enc_hidden=64,x", "enc_hidden item 2: expected an integer"),
    ("phase1.trainer.epochs=1.5", "expected an integer, got '1.5'"),
    ("logging.progress=maybe", "expected True or False"),
    ("phase1.trainer=3", "is a group of keys"),
    ("phase1.trainer.lr=fast", "phase1.trainer.lr: expected a number, got 'fast'"),
    ("data.datasets.val=X_valid", "did you mean data.datasets.x_val?"),
])
def test_bad_assignments(kv, msg):
  c = config_files.load("default")[0]
  with pytest.raises(ConfigError, match=msg.replace("?", r"\?").replace("(", r"\(")):
    apply_assignments(c, [kv])


def test_bad_values_caught_before_any_folder(tmp_path):
  from thesis_jax.train.config_check import validate_config
  c = config_files.load("default")[0]
  apply_assignments(c, ["phase1.trainer.batch_size=0"])
  with pytest.raises(ConfigError, match="phase1.trainer.batch_size must be > 0"):
    validate_config(c)
  assert not os.listdir(tmp_path)


@pytest.mark.parametrize("key,value,msg", [
    ("phase1.encoder.enc_hidden", (64, "x"), "enc_hidden item 2: expected a positive integer"),
    ("phase1.decoder.globals_hidden", (0,), "globals_hidden item 1"),
    ("logging.families", ("losses", "codebok"), "unknown plot family 'codebok'"),
    ("logging.moments", ("on_train_ends",), "unknown moment 'on_train_ends'"),
])
def test_python_configs_checked_like_the_command_line(key, value, msg):
  from thesis_jax.config_tools import set_dotted
  from thesis_jax.monitoring import check_figures
  from thesis_jax.train.config_check import validate_config
  c = config_files.load("default")[0]
  c.logging.make_plots = True
  set_dotted(c, key, value)
  with pytest.raises(ConfigError, match=msg):
    validate_config(c)          # model keys
    check_figures(c.logging)    # figure keys (thesis_jax.train_model checks them)


def test_configs_found_by_name_and_path():
  root = config_files.configs_root()
  assert config_files.resolve("default:tiny") == (os.path.join(root, "default.py"), "tiny")
  assert config_files.resolve("configs/gan_ae.py", "train")[0] == os.path.join(root, "gan_ae.py")
  assert config_files.resolve("compare_tokenizers", "report")[0] == \
      os.path.join(root, "reports", "compare_tokenizers.py")
  sweep, _ = config_files.load("compare_globals_heads:smoke", "sweep")
  assert sweep.base.phase1.trainer.epochs == 1 and sweep.report == "compare_globals_heads"
  with pytest.raises(ConfigError, match="unknown variant 'nope'"):
    config_files.load("default:nope")


def test_resolve_paths(tmp_path):
  c = config_files.load("compare_tokenizers", "report")[0]
  c.inputs.run_dirs = "a,b/c"
  c.inputs.sweep_dir = str(tmp_path)
  typed = resolve_paths(c, cwd="/x")
  assert c.inputs.run_dirs == "/x/a,/x/b/c" and typed == {"inputs.run_dirs": "a,b/c"}
  assert c.inputs.sweep_dir == str(tmp_path)
