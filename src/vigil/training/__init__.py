"""Training: task detection, the fitted pipeline, metrics and feature importance."""
