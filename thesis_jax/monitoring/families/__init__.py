"""Plot families, one module each (`plot(ctx)`); listed in `orchestrator.FAMILIES`."""
