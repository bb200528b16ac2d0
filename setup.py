"""Package list for setuptools (metadata lives in pyproject.toml).

Installs `thesis_jax` and the repository's top-level `configs/` folder as
`thesis_jax.configs`, so configs are found by name after a plain
`pip install` (thesis_jax/config_files.py) without putting generic top-level
names (`configs`, `experiments`) into site-packages.
"""
from setuptools import find_packages, setup

PACKAGES = find_packages(include=["thesis_jax", "thesis_jax.*"])
CONFIGS = ["thesis_jax." + p for p in find_packages(include=["configs", "configs.*"])]

setup(packages=PACKAGES + CONFIGS, package_dir={"thesis_jax.configs": "configs"})
