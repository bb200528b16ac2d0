"""Training-time figures (`logging.make_plots`): plot families per facts event.

    handle_event(config.logging, "on_epoch_end", payload, run_dir)

writes `{run_dir}/train_figures/*.png`. `figure_hook(config.logging)` is the
training driver's `on_event` hook (wired by `thesis_jax.train_model`). To add
a family: write `families/<name>.py` with `plot(ctx)` and list it in
`orchestrator.FAMILIES`.
"""
from thesis_jax.monitoring.context import PlotContext
from thesis_jax.monitoring.orchestrator import (FAMILIES, check_figures,
                                                figure_hook, handle_event)
