"""Data: HDF5 reader, synthetic events, normalisation, batch stacks."""
from thesis_jax.data.layout import Events, join_rows, split_rows
from thesis_jax.data.normalization import Normalizer
from thesis_jax.data.pipeline import Dataset, eval_stack, load_dataset, train_stack
