"""Audience inputs: subscriber edits, CSV import, bulk edit and hosted forms (SPEC §5)."""
