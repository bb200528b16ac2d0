"""Report configs (`python -m experiments.report --config configs/reports/<name>.py`)."""
