"""Use cases: ingest events, edit subscribers, sequences, runs, stats. Transactions live here."""
