"""One-time links of team access (SPEC S33): the first owner's setup, invitations, password resets.

A link carries a random 256-bit token; only its SHA-256 is stored, with its purpose, expiry and
whether it was used. Invitations and resets are emailed through the configured transport and
archived as issues of group `team` (no subscriber, left out of every statistic), so the capture
mailbox shows them.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from stepwise.domain.access import may_assign
from stepwise.errors import Conflict, NotFound
from stepwise.services import audit, team_mail
from stepwise.services.context import Context
from stepwise.services.users import Forbidden, UserRow, add_user, address, check_password, check_role, set_password
from stepwise.storage import accounts as account_store
from stepwise.storage import users as user_store
from stepwise.storage.codec import to_us
from stepwise.storage.database import Database
from stepwise.storage.users import LinkRow

LIFETIMES = {"setup": timedelta(hours=24), "invite": timedelta(days=7), "reset": timedelta(hours=1)}
_MAX_TOKEN = 100


def token_hash(token: str) -> str:
    """What the database keeps of a link's token."""
    return hashlib.sha256(token.encode()).hexdigest()


def _new_link(db: Database, link: LinkRow, now: datetime) -> str:
    token = secrets.token_urlsafe(32)
    with db.write() as conn:
        user_store.add_link(conn, token_hash(token), link, audit.current_actor(), to_us(now))
    return token


def link_url(base_url: str, purpose: str, token: str) -> str:
    """The address a person opens: /setup/<token>, /invite/<token> or /reset/<token>."""
    return f"{base_url.rstrip('/')}/{purpose}/{token}"


def ensure_setup_link(db: Database, base_url: str, now: datetime) -> str | None:
    """While the instance has no user yet, make a setup link for the first owner (valid 24 h)."""
    with db.read() as conn:
        if user_store.count_all(conn) > 0:
            return None
        account = account_store.by_name(conn, "default")
    if account is None:
        return None
    link = LinkRow(account.id, "setup", None, "owner", to_us(now + LIFETIMES["setup"]), None)
    return link_url(base_url, "setup", _new_link(db, link, now))


def open_link(db: Database, purpose: str, token: str, now: datetime) -> LinkRow:
    """The unused, unexpired link of this token and purpose, or 404 `link_invalid`."""
    found = None
    if token and len(token) <= _MAX_TOKEN:
        with db.read() as conn:
            found = user_store.link(conn, token_hash(token))
    if found is None or found.purpose != purpose or found.used_at is not None or found.expires_at <= to_us(now):
        raise NotFound("this link is not valid: it may have expired or been used already", code="link_invalid")
    return found


def accept_setup(db: Database, token: str, email: str, password: str, now: datetime) -> UserRow:
    """Create the first owner from a setup link (once)."""
    link = open_link(db, "setup", token, now)
    check_password(password)
    with db.write() as conn:
        if not user_store.use_link(conn, token_hash(token), to_us(now)):
            raise NotFound("this link was used already", code="link_invalid")
        return add_user(conn, link.account_id, email, password, "owner", now)


def accept_invite(db: Database, token: str, password: str, now: datetime) -> UserRow:
    """Create the invited user with the password they chose (once)."""
    link = open_link(db, "invite", token, now)
    check_password(password)
    with db.write() as conn:
        if not user_store.use_link(conn, token_hash(token), to_us(now)):
            raise NotFound("this link was used already", code="link_invalid")
        return add_user(conn, link.account_id, link.email or "", password, link.role or "viewer", now)


def accept_reset(db: Database, token: str, password: str, now: datetime) -> UserRow:
    """Set a new password from a reset link (once); the user's sessions end."""
    link = open_link(db, "reset", token, now)
    check_password(password)
    with db.write() as conn:
        user = user_store.by_email(conn, address(link.email or "")[1])
        if user is None or not user_store.use_link(conn, token_hash(token), to_us(now)):
            raise NotFound("this link is not valid any more", code="link_invalid")
        set_password(conn, user, password, "password_reset")
    return user


def invite(app: Context, account_id: int, raw_email: str, role: str, actor_role: str, now: datetime) -> str:
    """Email an invitation (valid 7 days) and return the issue id of the email; 403/409/422 when it cannot be."""
    email, key = address(raw_email)
    check_role(role)
    if not may_assign(actor_role, role):
        raise Forbidden(f"a {actor_role} cannot invite an {role}" if role[0] in "aeo" else "not allowed")
    with app.db.write() as conn:
        if user_store.by_email(conn, key) is not None:
            raise Conflict(f"a user {email!r} already exists", code="user_exists")
        audit.record(conn, account_id, "user", email, "invite", None, {"email": email, "role": role})
    link = LinkRow(account_id, "invite", email, role, to_us(now + LIFETIMES["invite"]), None)
    token = _new_link(app.db, link, now)
    url = link_url(app.settings.base_url, "invite", token)
    body = f"You are invited to Stepwise as {role}.\n\nChoose your password here (valid 7 days):\n{url}\n"
    return team_mail.send(app, account_id, email, "Your invitation to Stepwise", body, now, redact=token)


def request_reset(app: Context, raw_email: str, now: datetime) -> None:
    """Email a reset link (valid 1 hour) when the address is a user's; say nothing either way."""
    try:
        email, key = address(raw_email)
    except Exception:
        return
    with app.db.read() as conn:
        user = user_store.by_email(conn, key)
    if user is None:
        return
    link = LinkRow(user.account_id, "reset", user.email, None, to_us(now + LIFETIMES["reset"]), None)
    token = _new_link(app.db, link, now)
    url = link_url(app.settings.base_url, "reset", token)
    body = f"Someone asked to reset your Stepwise password.\n\nChoose a new one here (valid 1 hour):\n{url}\n"
    team_mail.send(app, user.account_id, email, "Reset your Stepwise password", body, now, redact=token)


def sender_of(base_url: str) -> str:
    """The From address of team emails: stepwise@ the host of the public address."""
    host = urlsplit(base_url).hostname or "localhost"
    return f"stepwise@{host}"
