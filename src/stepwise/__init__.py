"""Stepwise: a self-hosted engine for event-triggered email sequences."""

__version__ = "0.1.0"
