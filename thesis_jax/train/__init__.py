"""Training: pure jitted steps, data-parallel scan dispatch, the driver."""
