"""Tables of team access (SPEC §20): users, their one-time links, and the audit log.

`api_keys` (schema.py) gains `name`, `scope` and `last_used_at`; `ui_sessions` gains `user_id`.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, String, Table, Text, UniqueConstraint

from stepwise.storage.schema_base import Id, Micros, metadata

# People who sign in to the UI (SPEC S33). `email_key` (lower-cased) is unique across the instance,
# so an address names one user of one account. Passwords are argon2id hashes; the TOTP secret is
# sealed with the instance secret (delivery/sealing.py), `totp_pending` while being confirmed.
users = Table(
    "users",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("account_id", BigInteger, nullable=False),
    Column("email", String(320), nullable=False),
    Column("email_key", String(320), nullable=False, unique=True),
    Column("password_hash", String(200), nullable=False),
    Column("role", String(8), nullable=False),  # owner | admin | editor | viewer
    Column("totp_sealed", Text),
    Column("totp_pending", Text),
    Column("created_at", Micros, nullable=False),
    Index(None, "account_id"),
)

# One-time links: the first owner's setup, invitations and password resets. Only the SHA-256 of a
# link's token is kept; `used_at` marks a link that was followed.
user_links = Table(
    "user_links",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("account_id", BigInteger, nullable=False),
    Column("purpose", String(8), nullable=False),  # setup | invite | reset
    Column("email", String(320)),  # the invited or resetting address (NULL for setup)
    Column("role", String(8)),  # the role an invitation or setup gives
    Column("created_by", String(400)),
    Column("created_at", Micros, nullable=False),
    Column("expires_at", Micros, nullable=False),
    Column("used_at", Micros),
    Index(None, "account_id"),
)

# The audit log (SPEC S35): append-only through the product (no update or delete path exists).
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("account_id", BigInteger, nullable=False),
    Column("at", Micros, nullable=False),
    Column("actor", String(400), nullable=False),  # "user:<email>", "key:<name>" or "cli"
    Column("object_type", String(32), nullable=False),
    Column("object_key", String(400), nullable=False),
    Column("action", String(32), nullable=False),
    Column("before", Text),  # JSON of the definition before the change (NULL: none)
    Column("after", Text),  # JSON after the change (NULL: deleted)
    UniqueConstraint("account_id", "id"),
    Index(None, "account_id", "object_type", "object_key", "id"),
)
