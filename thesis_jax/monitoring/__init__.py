"""Training-time figures (`logging.make_plots`): plot families per facts event.

    handle_event(config.logging, "on_epoch_end", payload, run_dir)

writes `{run_dir}/train_figures/*.png`; see `registry.py` to add a family.
"""
from thesis_jax.monitoring.orchestrator import handle_event
from thesis_jax.monitoring.registry import FAMILIES, PlotContext
