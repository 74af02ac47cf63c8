"""Training: sources, fitting, export (the [train] extra)."""
