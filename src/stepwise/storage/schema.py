"""Tables. Times are integer microseconds since the Unix epoch (UTC); JSON is stored as text.

Every table carries `account_id` first in its keys, so that a database sharded by account
(e.g. Citus) can hold them.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from stepwise.storage import (  # noqa: F401 - they declare tables on `metadata`
    schema_dates,
    schema_deliverability,
    schema_policy,
    schema_segments,
    schema_team,
    schema_versions,
    schema_webhooks,
)
from stepwise.storage.schema_base import Id, Micros, metadata

# The tables of deliverability (SPEC §19) are declared in schema_deliverability.py on the same metadata.


settings = Table(
    "settings",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

accounts = Table(
    "accounts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("timezone", String(64), nullable=False),
    Column("created_at", Micros, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("account_id", BigInteger, nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("created_at", Micros, nullable=False),
    Column("revoked_at", Micros),
    Column("name", String(64), nullable=False, server_default="default"),  # SPEC S34 (schema_team.py)
    Column("scope", String(8), nullable=False, server_default="write"),  # read | write | events
    Column("last_used_at", Micros),
)

subscribers = Table(
    "subscribers",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("account_id", BigInteger, nullable=False),
    Column("email", String(320), nullable=False),
    Column("email_key", String(320), nullable=False),
    Column("status", String(16), nullable=False),
    Column("data", Text, nullable=False, server_default="{}"),
    Column("created_at", Micros, nullable=False),
    Column("updated_at", Micros, nullable=False),
    UniqueConstraint("account_id", "email_key"),
    Index(None, "account_id", "status", "id"),
    Index(None, "account_id", "id"),
)

lists = Table(
    "lists",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("account_id", BigInteger, nullable=False),
    Column("key", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("created_at", Micros, nullable=False),
    Column("updated_at", Micros, nullable=False),
    UniqueConstraint("account_id", "key"),
)

list_members = Table(
    "list_members",
    metadata,
    Column("account_id", BigInteger, nullable=False),
    Column("list_id", BigInteger, nullable=False),
    Column("subscriber_id", BigInteger, nullable=False),
    Column("joined_at", Micros, nullable=False),
    PrimaryKeyConstraint("account_id", "list_id", "subscriber_id"),
    # A subscriber's lists. It covers list_id: otherwise SQLite prefers the covering primary key and reads
    # every membership of the account to find a batch's subscribers.
    Index(None, "account_id", "subscriber_id", "list_id"),
)

drafts = Table(
    "drafts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("account_id", BigInteger, nullable=False),
    Column("key", String(64), nullable=False),
    Column("subject", Text, nullable=False),
    Column("html", Text, nullable=False),
    Column("text", Text),
    Column("from_email", String(320)),
    Column("from_name", String(200)),
    Column("reply_to", String(320)),
    Column("created_at", Micros, nullable=False),
    Column("updated_at", Micros, nullable=False),
    UniqueConstraint("account_id", "key"),
)

forms = Table(
    "forms",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("account_id", BigInteger, nullable=False),
    Column("key", String(64), nullable=False),
    Column("spec", Text, nullable=False),
    Column("created_at", Micros, nullable=False),
    Column("updated_at", Micros, nullable=False),
    UniqueConstraint("account_id", "key"),
)

sequences = Table(
    "sequences",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("account_id", BigInteger, nullable=False),
    Column("key", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("status", String(16), nullable=False),
    Column("definition", Text, nullable=False),
    Column("version", Integer, nullable=False, server_default="1"),  # +1 on every change: the catalog's cache key
    Column("created_at", Micros, nullable=False),
    Column("updated_at", Micros, nullable=False),
    # The live (latest published) version number (S16); status changes leave it alone.
    Column("live_version", Integer, nullable=False, server_default="1"),
    UniqueConstraint("account_id", "key"),
)

runs = Table(
    "runs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("account_id", BigInteger, nullable=False),
    Column("sequence_id", BigInteger, nullable=False),
    Column("subscriber_id", BigInteger, nullable=False),
    Column("pass_no", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("step", Integer, nullable=False),
    Column("entered_at", Micros, nullable=False),
    Column("step_entered_at", Micros, nullable=False),
    Column("wake_at", Micros),
    # When the worker must look at this run: its deadline, or "now" for a state re-test;
    # NULL while the run or its sequence is paused, so held runs cost the due-index nothing.
    Column("claimable_at", Micros),
    Column("recheck", Boolean, nullable=False, server_default=text("false")),
    Column("resumed_at", Micros),  # set on resume: an overdue deadline fires at this moment (S11)
    Column("ended_at", Micros),
    Column("end_reason", String(32)),
    Column("version", Integer, nullable=False, server_default="1"),  # the sequence version it follows (S16)
    # S24: the last variant fired (of the step before the one it waits at) and the run's goal conversion.
    Column("last_variant", Integer),
    Column("converted_at", Micros),
    Column("converted_step", Integer),
    Column("converted_variant", Integer),
    Column("entry", Text),  # S25: the entry event as JSON (engine Event.entry); NULL: started by hand
    Column("test", Boolean, nullable=False, server_default=text("false")),  # a test run (S19)
    UniqueConstraint("account_id", "subscriber_id", "sequence_id", "pass_no"),
    Index(None, "account_id", "sequence_id", "status", "step", "id"),
    # S1 in the database: one active-or-paused run per subscriber and sequence.
    Index(
        "uq_runs_one_open",
        "account_id",
        "subscriber_id",
        "sequence_id",
        unique=True,
        sqlite_where=text("status IN ('active', 'paused')"),
        postgresql_where=text("status IN ('active', 'paused')"),
    ),
    Index(
        "ix_runs_due",
        "claimable_at",
        sqlite_where=text("claimable_at IS NOT NULL"),
        postgresql_where=text("claimable_at IS NOT NULL"),
    ),
)

inbox = Table(
    "inbox",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("account_id", BigInteger, nullable=False),
    Column("subscriber_id", BigInteger, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("payload", Text, nullable=False),
    Column("source", String(80), nullable=False),
    Column("occurred_at", Micros, nullable=False),
    Column("accepted_at", Micros, nullable=False),
    Index(None, "subscriber_id", "id"),
)

event_ids = Table(
    "event_ids",
    metadata,
    Column("account_id", BigInteger, nullable=False),
    Column("ext_id", String(200), nullable=False),
    Column("accepted_at", Micros, nullable=False),
    PrimaryKeyConstraint("account_id", "ext_id"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("account_id", BigInteger, nullable=False),
    Column("kind", String(16), nullable=False),  # email | url
    Column("issue_id", String(32)),
    Column("subscriber_id", BigInteger, nullable=False),
    Column("sequence_id", BigInteger, nullable=False),
    Column("pass_no", Integer, nullable=False),
    Column("payload", Text, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("available_at", Micros, nullable=False),
    # When the SMTP server accepted the message (its 250), written before this worker hands over another.
    Column("accepted_at", Micros),
    Column("lease_token", String(32)),
    Column("last_error", Text),
    Column("created_at", Micros, nullable=False),
    Index(None, "available_at"),
    # Delivery keeps order per run: a row waits while an older row of its run is in the outbox.
    Index(None, "account_id", "subscriber_id", "sequence_id", "pass_no", "id"),
)

issues = Table(
    "issues",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("account_id", BigInteger, nullable=False),
    Column("subscriber_id", BigInteger),
    Column("email", String(320), nullable=False),
    Column("email_key", String(320), nullable=False),
    Column("draft", String(64), nullable=False),
    Column("sequence", String(64)),
    Column("step", Integer),
    Column("variant", Integer),
    Column("pass_no", Integer),
    Column("group_name", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("reason", Text),
    Column("message_id", String(200)),
    Column("transport", String(16)),
    Column("subject", Text),
    Column("from_addr", Text),
    Column("headers", Text),
    Column("html", Text),
    Column("text", Text),
    Column("links", Text),  # JSON list of the original URLs that tracking tokens point at, by index
    Column("created_at", Micros, nullable=False),
    Column("sent_at", Micros),
    Column("opened_at", Micros),
    Column("clicked_at", Micros),
    Column("unsubscribed_at", Micros),
    *(Column(name, Micros) for name in ("bounced_at", "complained_at")),  # reports about it (SPEC S30)
    Column("deliver_after", Micros),  # a deferred email is held until then (SPEC S27, S28)
    Column("test", Boolean, nullable=False, server_default=text("false")),  # an email of a test run (S19)
    Index(None, "account_id", "id"),
    Index(None, "account_id", "email_key", "id"),
    Index(None, "account_id", "sequence", "id"),
    Index(None, "account_id", "draft", "id"),
    Index(None, "account_id", "status", "id"),
)

timeline = Table(
    "timeline",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("account_id", BigInteger, nullable=False),
    Column("subscriber_id", BigInteger, nullable=False),
    Column("at", Micros, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("sequence", String(64)),
    Column("detail", Text, nullable=False),
    Index(None, "account_id", "subscriber_id", "id"),
)

counters = Table(
    "counters",
    metadata,
    Column("account_id", BigInteger, nullable=False),
    Column("sequence_id", BigInteger, nullable=False),
    Column("metric", String(40), nullable=False),
    Column("step", Integer, nullable=False),
    Column("variant", Integer, nullable=False),
    # Writers spread increments over shards so that parallel batches rarely wait on one row.
    Column("shard", Integer, nullable=False),
    Column("value", BigInteger, nullable=False),
    PrimaryKeyConstraint("account_id", "sequence_id", "metric", "step", "variant", "shard"),
)

imports = Table(
    "imports",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("account_id", BigInteger, nullable=False),
    Column("filename", String(300)),
    Column("status", String(16), nullable=False),  # running | done | failed
    Column("options", Text, nullable=False),
    Column("rows", BigInteger, nullable=False, server_default="0"),
    Column("created", BigInteger, nullable=False, server_default="0"),
    Column("updated", BigInteger, nullable=False, server_default="0"),
    Column("unchanged", BigInteger, nullable=False, server_default="0"),
    Column("failed", BigInteger, nullable=False, server_default="0"),
    Column("errors", Text, nullable=False, server_default="[]"),
    Column("started_at", Micros, nullable=False),
    Column("finished_at", Micros),
    Index(None, "account_id", "id"),
)

# Server-side UI sessions: the browser holds a random id, the database only its SHA-256, so reading
# the database gives no way to sign in. Deleted at sign-out; all of an account's go on key rotation.
ui_sessions = Table(
    "ui_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("account_id", BigInteger, nullable=False),
    Column("key_id", BigInteger),  # the API key signed in with (or NULL once users exist)
    Column("user_id", BigInteger),  # the user signed in (SPEC S33)
    Column("csrf", String(64), nullable=False),
    Column("created_at", Micros, nullable=False),
    Column("expires_at", Micros, nullable=False),
    Index(None, "account_id"),
)

# Rows, definitions and events the worker could not handle: set aside with their error so that
# everything else goes on (poison isolation). `kind` says what was set aside, `ref` which one.
quarantine = Table(
    "quarantine",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("account_id", BigInteger, nullable=False),
    Column("kind", String(16), nullable=False),  # event | sequence | outbox | subscriber
    Column("ref", String(200), nullable=False),
    Column("subscriber_id", BigInteger),
    Column("error", Text, nullable=False),
    Column("payload", Text),
    Column("created_at", Micros, nullable=False),
    Index(None, "account_id", "id"),
)
