"""Reads a PyTorch `state_dict` file (`torch.save` zip format) without torch.

A `.pt` file is a zip archive: `{prefix}/data.pkl` (a pickle of the state
dict) and one raw little-endian byte blob per storage, `{prefix}/data/{key}`.
Unpickling an arbitrary file can run arbitrary code, so the unpickler here
resolves only the few globals a state_dict needs (an OrderedDict, the tensor
rebuild function and typed storage classes) and refuses every other global
with `UnsafeCheckpointError`. Tensors come back as numpy arrays.
"""
from __future__ import annotations

import collections
import io
import pickle
import zipfile
from typing import Dict

import numpy as np

from thesis_jax.errors import DataError

# torch storage class -> numpy dtype (little-endian, as torch writes them).
STORAGE_DTYPES = {
    "FloatStorage": "<f4", "DoubleStorage": "<f8", "HalfStorage": "<f2",
    "BFloat16Storage": "<u2", "LongStorage": "<i8", "IntStorage": "<i4",
    "ShortStorage": "<i2", "CharStorage": "i1", "ByteStorage": "u1",
    "BoolStorage": "?",
}


class UnsafeCheckpointError(DataError, pickle.UnpicklingError):
  """The pickle names a global that a plain state_dict never needs."""


class _Storage:
  def __init__(self, dtype: str):
    self.dtype = dtype


def _rebuild_tensor(storage, offset, size, stride, *_):
  """torch._utils._rebuild_tensor_v2 for a numpy storage -> owned ndarray."""
  item = storage.itemsize
  view = np.lib.stride_tricks.as_strided(
      storage[offset:], shape=tuple(size), strides=tuple(s * item for s in stride))
  return np.array(view)


class _Restricted(pickle.Unpickler):
  def __init__(self, data: bytes, read_storage):
    super().__init__(io.BytesIO(data))
    self._read_storage = read_storage
    self._cache: Dict[str, np.ndarray] = {}

  def find_class(self, module, name):
    if (module, name) == ("collections", "OrderedDict"):
      return collections.OrderedDict
    if module == "torch._utils" and name in ("_rebuild_tensor_v2",
                                             "_rebuild_tensor"):
      return _rebuild_tensor
    if module == "torch" and name in STORAGE_DTYPES:
      return _Storage(STORAGE_DTYPES[name])
    raise UnsafeCheckpointError(
        f"refusing global '{module}.{name}': only tensors, storages and "
        "ordered dicts are allowed in a state_dict file")

  def persistent_load(self, pid):
    if not (isinstance(pid, tuple) and len(pid) >= 3 and pid[0] == "storage"
            and isinstance(pid[1], _Storage)):
      raise UnsafeCheckpointError(f"unexpected persistent id {pid!r:.80}")
    key = str(pid[2])
    if key not in self._cache:
      self._cache[key] = np.frombuffer(self._read_storage(key), pid[1].dtype)
    return self._cache[key]


def load_state_dict(path: str) -> Dict[str, np.ndarray]:
  """`torch.save(model.state_dict(), path)` file -> {name: ndarray}.

  Raises UnsafeCheckpointError for anything but tensors/storages/ordered
  dicts, DataError for a file that is not a torch zip checkpoint.
  """
  try:
    zf = zipfile.ZipFile(path)
  except zipfile.BadZipFile:
    raise DataError(f"{path}: not a torch zip checkpoint (legacy non-zip "
                     "torch.save files are not supported)") from None
  with zf:
    pkls = [n for n in zf.namelist() if n.endswith("/data.pkl")]
    if len(pkls) != 1:
      raise DataError(f"{path}: expected one */data.pkl in the zip, found "
                       f"{len(pkls)}")
    prefix = pkls[0][:-len("data.pkl")]
    order = prefix + "byteorder"
    if order in zf.namelist() and zf.read(order).strip() != b"little":
      raise DataError(f"{path}: big-endian checkpoints are not supported")
    try:
      obj = _Restricted(zf.read(pkls[0]),
                        lambda key: zf.read(f"{prefix}data/{key}")).load()
    except UnsafeCheckpointError as e:
      raise UnsafeCheckpointError(f"{path}: {e}") from None
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError,
            ValueError) as e:
      raise DataError(f"{path}: unreadable state_dict pickle ({e})") from None
  if not isinstance(obj, dict):
    raise DataError(f"{path}: holds a {type(obj).__name__}, not a state_dict")
  out = {}
  for k, v in obj.items():
    if not isinstance(v, np.ndarray):
      raise DataError(f"{path}: entry '{k}' is not a tensor")
    out[str(k)] = v
  return out
