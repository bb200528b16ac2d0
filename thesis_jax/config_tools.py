"""ConfigDict helpers shared by training, sweeps, reports, tests, benchmarks."""
from __future__ import annotations

import ast
from typing import Any, List, Optional, Sequence, Tuple

import yaml

YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(path: str, expect: type = object) -> Any:
  """Safely loads a YAML file (no Python object tags); raises ConfigError, one
  line naming `path`, for invalid YAML, tags such as `!!python/object`, or a
  top-level value that is not an `expect` (dict, list)."""
  from thesis_jax.errors import ConfigError
  with open(path, encoding="utf-8") as f:
    try:
      data = yaml.load(f, Loader=YAML_LOADER)
    except yaml.YAMLError as e:
      mark = getattr(e, "problem_mark", None)
      where = f" (line {mark.line + 1})" if mark is not None else ""
      what = getattr(e, "problem", None) or str(e).splitlines()[0]
      raise ConfigError(f"{path}: unreadable YAML{where}: "
                        f"{' '.join(str(what).split())}") from None
  if data is None and expect in (dict, list):
    data = expect()
  if not isinstance(data, expect):
    raise ConfigError(f"{path}: expected a YAML {expect.__name__}, got "
                      f"{type(data).__name__}")
  return data


def to_plain(config) -> dict:
  """ConfigDict -> plain dict with lists for tuples (YAML/JSON friendly)."""
  def conv(x):
    if hasattr(x, "to_dict"):
      x = x.to_dict()
    if isinstance(x, dict):
      return {k: conv(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
      return [conv(v) for v in x]
    return x
  return conv(config)


def from_plain(raw: dict):
  """Plain dict (from YAML/JSON) -> ConfigDict, lists back to tuples as in
  configs/*.py (so command-line overrides of them keep working)."""
  import ml_collections

  def conv(x):
    if isinstance(x, dict):
      return {k: conv(v) for k, v in x.items()}
    if isinstance(x, list):
      return tuple(conv(v) for v in x)
    return x
  return ml_collections.ConfigDict(conv(raw))


def parent_of(config, dotted: str) -> Tuple[Any, str]:
  """-> (the node holding the last component, that component's name).
  Raises KeyError naming the missing component."""
  node = config
  *path, last = dotted.split(".")
  for p in path:
    if not hasattr(node, "keys") or p not in node:
      raise KeyError(p)
    node = node[p]
  return node, last


def set_dotted(config, dotted: str, value: Any) -> None:
  node, last = parent_of(config, dotted)
  node[last] = value


def literal(text: str) -> Any:
  """'3' -> 3, '(64, 64)' -> (64, 64), 'vq' -> 'vq'."""
  try:
    return ast.literal_eval(text)
  except (ValueError, SyntaxError):
    return text


# --- command-line values: one parser for every key (issue 10) --------------

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def split_list(text: Any) -> list:
  """A list-valued setting as typed -> its items (strings, stripped).

  'a,b' / '(a, b)' / '[a,b]' / "('a', 'b')" -> ['a', 'b']; '' / '()' -> [];
  a tuple/list passes through (items stringified only if they are strings
  with commas, e.g. ml_collections' ('a,b',)). The one comma-list parser for
  config keys, sweep grids and comma-separated report inputs."""
  if isinstance(text, (list, tuple)):
    out = []
    for t in text:
      out.extend(split_list(t) if isinstance(t, str) else [t])
    return out
  s = str(text).strip()
  if len(s) >= 2 and s[0] + s[-1] in ("()", "[]"):
    s = s[1:-1]
  return [_unquote(p.strip()) for p in s.split(",") if p.strip()]


def _unquote(s: str) -> str:
  if len(s) >= 2 and s[0] == s[-1] and s[0] in "'\"":
    return s[1:-1]
  return s


def _scalar(text: str, kind: type, where: str) -> Any:
  """'3' -> 3 for kind int etc.; raises ConfigError naming `where`."""
  from thesis_jax.errors import ConfigError
  t = _unquote(text.strip())
  if kind is bool:
    if t.lower() in _TRUE:
      return True
    if t.lower() in _FALSE:
      return False
    raise ConfigError(f"{where}: expected True or False, got '{text}'")
  if kind is int:
    try:
      return int(t)
    except ValueError:
      raise ConfigError(f"{where}: expected an integer, got '{text}'") from None
  if kind is float:
    try:
      return float(t)
    except ValueError:
      raise ConfigError(f"{where}: expected a number, got '{text}'") from None
  if kind is str:
    return t
  return literal(t)


def _kind(values) -> Optional[type]:
  kinds = {type(v) for v in values}
  if kinds <= {int, float} and float in kinds:
    return float
  return kinds.pop() if len(kinds) == 1 else None


def parse_value(key: str, text: str, default: Any,
                declared: Optional[type] = None) -> Any:
  """The command-line text of `key` -> a value of the default's type.
  Tuples take 'a,b' (items typed like the default's items)."""
  from thesis_jax.errors import ConfigError
  kind = declared or (type(default) if default is not None else None)
  if kind in (tuple, list):
    items = split_list(text)
    item_kind = _kind(default or ())
    out = []
    for i, s in enumerate(items):
      out.append(_scalar(s, item_kind, f"{key} item {i + 1}") if item_kind
                 else literal(s))
    return tuple(out)
  if kind in (bool, int, float, str):
    if kind is float and isinstance(default, float):
      return _scalar(text, float, key)
    return _scalar(text, kind, key)
  if hasattr(default, "keys"):
    raise ConfigError(f"{key} is a group of keys, not a value; set one of: "
                      + ", ".join(f"{key}.{k}" for k in default.keys()))
  return literal(text)


def leaf_keys(config, prefix: str = "") -> List[str]:
  """Every dotted key holding a value (not a group), in definition order."""
  out = []
  for k in config.keys():
    v = config[k]
    if hasattr(v, "keys"):
      out.extend(leaf_keys(v, f"{prefix}{k}."))
    else:
      out.append(f"{prefix}{k}")
  return out


def suggest(key: str, keys: Sequence[str]) -> str:
  """' (did you mean phase1.trainer.epochs?)' or ''."""
  import difflib
  parent = key.rpartition(".")[0]
  same = [k for k in keys if k.rpartition(".")[0] == parent]
  hit = (difflib.get_close_matches(key, same, 1, 0.6)
         or difflib.get_close_matches(key, keys, 1, 0.6))
  if not hit:   # a misplaced leaf: same last name elsewhere
    last = key.rpartition(".")[2]
    hit = [k for k in keys if k.rpartition(".")[2] == last][:1]
  return f" (did you mean {hit[0]}?)" if hit else ""


def _declared_type(node, last: str) -> Optional[type]:
  try:
    t = node.get_ref(last).get_type()
  except Exception:
    return None
  return t if t in (bool, int, float, str, tuple) else None


def apply_assignments(config, assignments: Sequence[str],
                      label: str = "config") -> List[str]:
  """Applies ["a.b=value", ...] to `config` with values typed like the
  key's default ('64,64' -> (64, 64) for a tuple of ints). Raises
  ConfigError for unknown keys (with a suggestion) or ill-typed values.
  Returns the assignments as applied (for overrides.yaml)."""
  from thesis_jax.errors import ConfigError
  keys = leaf_keys(config)
  done = []
  for kv in assignments:
    if "=" not in kv:
      raise ConfigError(f"--{label}.{kv}: give a value (--{label}.{kv}=...)")
    k, v = kv.split("=", 1)
    try:
      node, last = parent_of(config, k)
      if not hasattr(node, "keys") or last not in node:
        raise KeyError(last)
    except KeyError:
      raise ConfigError(f"unknown config key '{k}'{suggest(k, keys)}") from None
    value = parse_value(k, v, node[last], _declared_type(node, last))
    try:
      node[last] = value
    except TypeError as e:
      raise ConfigError(f"{k}: {e}") from None
    done.append(kv)
  return done


# Leaf names whose values are file/folder paths (comma lists where noted);
# resolved against the working directory when a command starts, so run
# folders hold absolute paths and work from anywhere later.
PATH_LEAVES = ("path", "output_root", "run_dir", "sweep_dir", "data_path",
               "tokenizer_run", "prior_run")
PATH_LIST_LEAVES = ("run_dirs", "anomaly_files")


def resolve_paths(config, cwd: Optional[str] = None) -> dict:
  """Makes every non-empty path-valued key (PATH_LEAVES, PATH_LIST_LEAVES)
  of `config` absolute, in place (`~` expanded). Returns {dotted key: value
  as typed} for the keys it changed."""
  import os
  cwd = cwd or os.getcwd()

  def absolute(p: str) -> str:
    return os.path.normpath(os.path.join(cwd, os.path.expanduser(p)))

  typed = {}
  for key in leaf_keys(config):
    node, last = parent_of(config, key)
    v = node[last]
    if not isinstance(v, str) or not v:
      continue
    if last in PATH_LEAVES:
      new = absolute(v)
    elif last in PATH_LIST_LEAVES:
      new = ",".join(absolute(p) for p in split_list(v))
    else:
      continue
    if new != v:
      typed[key] = v
      node[last] = new
  return typed
