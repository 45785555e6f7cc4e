"""Monitoring: feedback joined to predictions, live metrics per version, drift."""
