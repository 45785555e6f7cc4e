"""Serving: routing by deployment, loaded models, the prediction log and the fast path."""
