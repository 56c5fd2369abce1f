"""`stepwise bench`: standard workloads, measured on a scratch database (SPEC §12)."""
