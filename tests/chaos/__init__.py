"""Fault-injection tier: kills, database restarts and slow targets against real processes (SPEC §12)."""
