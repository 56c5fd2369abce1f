"""Tables of outbound webhooks (SPEC §18): endpoints and the delivery log of their messages."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Index, Integer, String, Table, Text, UniqueConstraint

from stepwise.storage.schema_base import Id, Micros, metadata

# An account's endpoints; the signing secret is sealed with the instance secret (delivery/sealing.py).
# `revision` feeds the per-process cache's version check (services/webhook_facts.py).
webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("account_id", BigInteger, nullable=False),
    Column("key", String(64), nullable=False),
    Column("url", Text, nullable=False),
    Column("events", Text, nullable=False),  # JSON list of event types
    Column("sealed_secret", Text, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("deactivated_at", Micros),
    Column("deactivated_reason", Text),
    Column("failing_since", Micros),  # the first failed attempt since the last delivered message
    Column("created_at", Micros, nullable=False),
    Column("updated_at", Micros, nullable=False),
    Column("revision", BigInteger, nullable=False),  # +1 on every change: the per-process cache's version
    UniqueConstraint("account_id", "key"),
)

# One row per message (the delivery log); its outbox row (kind `webhook`) names it by `message_id`.
webhook_messages = Table(
    "webhook_messages",
    metadata,
    Column("seq", Id, primary_key=True, autoincrement=True),
    Column("account_id", BigInteger, nullable=False),
    Column("endpoint_id", BigInteger, nullable=False),
    Column("message_id", String(40), nullable=False),
    Column("type", String(40), nullable=False),
    Column("status", String(12), nullable=False),  # pending | delivered | failed
    Column("attempts", Integer, nullable=False),
    Column("last_code", Integer),
    Column("last_error", Text),
    Column("body", Text, nullable=False),
    Column("created_at", Micros, nullable=False),
    Column("delivered_at", Micros),
    UniqueConstraint("message_id"),
    Index(None, "account_id", "endpoint_id", "seq"),
)
