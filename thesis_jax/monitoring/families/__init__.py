"""Plot families: every module in this package is imported and registers
itself in `FAMILIES` (so adding a family is adding a file)."""
import importlib
import pkgutil

for _m in pkgutil.iter_modules(__path__):
  importlib.import_module(f"{__name__}.{_m.name}")
