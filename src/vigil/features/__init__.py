"""Turning raw inputs (tables, log events, metric streams, requests) into model features."""
