"""Simulation: the real pure engine driven by a virtual clock, with no database (SPEC §14, S20-S21)."""
