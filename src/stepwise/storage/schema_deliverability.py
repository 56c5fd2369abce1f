"""Tables of deliverability (SPEC §19): bounce reports, suppressions, DKIM domains, provider receivers."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, PrimaryKeyConstraint, String, Table, Text, UniqueConstraint

from stepwise.storage.schema_base import Id, Micros, metadata

# Bounce and complaint reports (SPEC S30); `fingerprint` (the report's identity) makes a repeat count once.
bounces = Table(
    "bounces",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("account_id", BigInteger, nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("email", String(320), nullable=False),
    Column("email_key", String(320), nullable=False),
    Column("type", String(16), nullable=False),  # hard | soft | complaint
    Column("source", String(16), nullable=False),  # api | raw | cli | sendgrid | mailgun | postmark | ses
    Column("message_id", String(200)),
    Column("reason", Text),
    Column("issue_id", String(32)),  # the issue it was matched to, by Message-ID
    Column("subscriber_id", BigInteger),  # the subscriber it was matched to, by address
    Column("received_at", Micros, nullable=False),
    UniqueConstraint("account_id", "fingerprint"),
    *(Index(None, "account_id", *more) for more in (["id"], ["email_key", "received_at"], ["received_at"])),
)

# Addresses (`name@domain`, lower-cased) and whole domains (`@domain`) that get no email (SPEC S31).
suppressions = Table(
    "suppressions",
    metadata,
    Column("account_id", BigInteger, nullable=False),
    Column("address", String(320), nullable=False),
    Column("reason", String(16), nullable=False),  # manual | bounce | complaint | unsubscribe
    Column("note", Text),
    Column("created_at", Micros, nullable=False),
    PrimaryKeyConstraint("account_id", "address"),
)

# DKIM keys per From domain (SPEC S32), sealed with the instance secret (delivery/sealing.py).
sending_domains = Table(
    "sending_domains",
    metadata,
    Column("account_id", BigInteger, nullable=False),
    Column("domain", String(253), nullable=False),
    Column("selector", String(63), nullable=False),
    Column("sealed_key", Text, nullable=False),
    Column("record", Text, nullable=False),  # the TXT record to publish
    Column("created_at", Micros, nullable=False),
    PrimaryKeyConstraint("account_id", "domain"),
)

# Provider bounce receivers (/hooks/{account}/{provider}/{token}): URL token and key, sealed likewise.
bounce_receivers = Table(
    "bounce_receivers",
    metadata,
    *(
        Column(name, BigInteger if name == "account_id" else String(16), nullable=False)
        for name in ("account_id", "provider")
    ),
    Column("sealed_token", Text, nullable=False),
    Column("sealed_key", Text),
    Column("updated_at", Micros, nullable=False),
    PrimaryKeyConstraint("account_id", "provider"),
)
