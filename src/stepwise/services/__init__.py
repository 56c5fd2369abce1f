"""Use cases: ingest events, edit subscribers, sequences, runs, stats. Transactions live here."""

# Registers the webhook fan-out on the inbox (services/webhook_facts.py) in every process that uses services.
from stepwise.services import webhook_facts as _webhook_facts  # noqa: F401
