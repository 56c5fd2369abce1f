"""The REST API (SPEC §8): one module per resource, shared auth, errors and limits."""
