"""Users of the UI (SPEC S33): argon2id passwords, roles, sign-in with its throttle, TOTP two-factor.

Every change records an audit entry (services/audit.py) in its own transaction. Passwords are kept
only as argon2id hashes (argon2-cffi); a TOTP secret only sealed with the instance secret.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection

from stepwise.delivery.sealing import seal, unseal
from stepwise.domain import totp
from stepwise.domain.access import ROLES, may_assign
from stepwise.domain.emails import InvalidEmail, parse_email
from stepwise.errors import AppError, Conflict, NotFound, Unprocessable
from stepwise.services import audit
from stepwise.services.throttle import Bucket, Throttle, TooManyFailures
from stepwise.storage import sessions as session_store
from stepwise.storage import users as user_store
from stepwise.storage.codec import from_us, to_us
from stepwise.storage.database import Database
from stepwise.storage.users import UserRow as UserRow  # noqa: PLC0414 - re-exported to the HTTP layers

MIN_PASSWORD, MAX_PASSWORD = 10, 200
TOTP_PURPOSE = "totp"
_hasher = PasswordHasher()  # argon2id with the library's recommended parameters
_DUMMY_HASH = _hasher.hash("not a password of anyone")


class Forbidden(AppError):
    """Signed in, but the role or scope does not allow this."""

    status = 403
    code = "forbidden"


# A user as listed (never the password hash or the TOTP secret).
class UserOut(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    email: str
    role: str
    two_factor: bool
    created_at: str


def view(row: UserRow) -> UserOut:
    """The listed form of a user."""
    return UserOut(
        id=row.id,
        email=row.email,
        role=row.role,
        two_factor=bool(row.totp_sealed),
        created_at=from_us(row.created_at).isoformat(),
    )


def check_password(password: str) -> None:
    """422 unless the password is 10 to 200 characters."""
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD or "\0" in password:
        raise Unprocessable.one("password", f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters (no NUL)")


def check_role(role: str) -> str:
    """422 unless role is one of owner, admin, editor, viewer."""
    if role not in ROLES:
        raise Unprocessable.one("role", f"the role is one of {', '.join(ROLES)}")
    return role


def address(raw: str) -> tuple[str, str]:
    """(email, email_key) of an address, or 422."""
    try:
        email = parse_email(raw.strip())
    except InvalidEmail as exc:
        raise Unprocessable.one("email", f"the address {exc}") from exc
    return email.value, email.key


def hash_password(password: str) -> str:
    """The argon2id hash of a valid password."""
    check_password(password)
    return _hasher.hash(password)


def add_user(conn: Connection, account_id: int, raw_email: str, password: str, role: str, now: datetime) -> UserRow:
    """Create a user in the caller's transaction (409 when the address is taken)."""
    email, key = address(raw_email)
    check_role(role)
    hashed = hash_password(password)
    if user_store.by_email(conn, key) is not None:
        raise Conflict(f"a user {email!r} already exists", code="user_exists")
    user_id = user_store.add(conn, account_id, email, key, hashed, role, to_us(now))
    audit.record(conn, account_id, "user", email, "create", None, {"email": email, "role": role})
    found = user_store.by_id(conn, user_id)
    assert found is not None
    return found


def create_user(db: Database, account_id: int, raw_email: str, password: str, role: str, now: datetime) -> UserRow:
    """Create a user (the shell's `stepwise users create`)."""
    with db.write() as conn:
        return add_user(conn, account_id, raw_email, password, role, now)


def list_users(db: Database, account_id: int) -> list[UserRow]:
    """The users of an account, by address."""
    with db.read() as conn:
        return user_store.of_account(conn, account_id)


def get_user(db: Database, user_id: int) -> UserRow | None:
    """One user by id."""
    with db.read() as conn:
        return user_store.by_id(conn, user_id)


def _of_account(conn: Connection, account_id: int, raw_email: str) -> UserRow:
    _, key = address(raw_email)
    found = user_store.by_email(conn, key)
    if found is None or found.account_id != account_id:
        raise NotFound(f"no user {raw_email[:80]!r}", code="user_not_found")
    return found


def set_role(db: Database, account_id: int, raw_email: str, role: str, *, actor_role: str = "owner") -> UserRow:
    """Change a user's role; the last owner keeps theirs; admins cannot touch owners (403)."""
    check_role(role)
    with db.write() as conn:
        user = _of_account(conn, account_id, raw_email)
        if not may_assign(actor_role, role, user.role):
            raise Forbidden("only an owner may make or change an owner")
        if user.role == "owner" and role != "owner" and user_store.count_role(conn, account_id, "owner") == 1:
            raise Conflict("the account's last owner keeps the role; make another owner first", code="last_owner")
        user_store.change(conn, user.id, role=role)
        audit.record(conn, account_id, "user", user.email, "set_role", {"role": user.role}, {"role": role})
        found = user_store.by_id(conn, user.id)
    assert found is not None
    return found


def remove_user(db: Database, account_id: int, raw_email: str, *, actor_role: str = "owner") -> None:
    """Remove a user and end their sessions; never the last owner."""
    with db.write() as conn:
        user = _of_account(conn, account_id, raw_email)
        if not may_assign(actor_role, user.role, user.role):
            raise Forbidden("only an owner may remove an owner")
        if user.role == "owner" and user_store.count_role(conn, account_id, "owner") == 1:
            raise Conflict("the account's last owner cannot be removed", code="last_owner")
        session_store.remove_for_user(conn, user.id)
        user_store.remove(conn, user.id)
        audit.record(conn, account_id, "user", user.email, "remove", {"email": user.email, "role": user.role}, None)


def set_password(conn: Connection, user: UserRow, password: str, action: str = "password") -> None:
    """Replace a user's password and end their sessions, in the caller's transaction."""
    user_store.change(conn, user.id, password_hash=hash_password(password))
    session_store.remove_for_user(conn, user.id)
    audit.record(conn, user.account_id, "user", user.email, action)


@dataclass(frozen=True, slots=True)
class SignIn:
    """A correct email and password: the user, and whether a TOTP code is still needed."""

    user: UserRow
    needs_code: bool


def sign_in_buckets(client: str, email: str) -> list[Bucket]:
    """Sign-in failures count per client address and per address tried (SPEC S33)."""
    return [("client", client), ("email", email.strip().lower()[:320])]


def check_password_sign_in(db: Database, throttle: Throttle, client: str, email: str, password: str) -> SignIn | None:
    """Check an email and password (raises TooManyFailures when its buckets are locked)."""
    buckets = sign_in_buckets(client, email)
    wait = throttle.retry_after(buckets)
    if wait:
        raise TooManyFailures(wait)
    user = None
    try:
        _, key = address(email)
        with db.read() as conn:
            user = user_store.by_email(conn, key)
    except AppError:
        user = None
    if not _verify(user.password_hash if user else _DUMMY_HASH, password) or user is None:
        throttle.failed(buckets)
        return None
    throttle.succeeded(buckets)
    return SignIn(user, needs_code=bool(user.totp_sealed))


def _verify(hashed: str, password: str) -> bool:
    if not password or len(password) > MAX_PASSWORD:
        return False
    try:
        return _hasher.verify(hashed, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def check_code(db: Database, throttle: Throttle, secret: str, user_id: int, code: str, now: datetime) -> UserRow | None:
    """Check the TOTP code of a user who gave the right password (throttled per user)."""
    buckets: list[Bucket] = [("totp", str(user_id))]
    wait = throttle.retry_after(buckets)
    if wait:
        raise TooManyFailures(wait)
    user = get_user(db, user_id)
    if user is None or not user.totp_sealed:
        return None
    shared = unseal(secret, TOTP_PURPOSE, user.totp_sealed).decode()
    if not totp.verify(shared, code, now.timestamp()):
        throttle.failed(buckets)
        return None
    throttle.succeeded(buckets)
    return user


def start_totp(db: Database, secret: str, user: UserRow) -> str:
    """Make a new TOTP secret pending confirmation; return it (base32) to show once."""
    shared = totp.new_secret()
    with db.write() as conn:
        user_store.change(conn, user.id, totp_pending=seal(secret, TOTP_PURPOSE, shared.encode()))
    return shared


def confirm_totp(db: Database, secret: str, user: UserRow, code: str, now: datetime) -> None:
    """Turn two-factor sign-in on once a code of the pending secret checks out (422 otherwise)."""
    if not user.totp_pending:
        raise Unprocessable.one("code", "start setting up two-factor sign-in first")
    shared = unseal(secret, TOTP_PURPOSE, user.totp_pending).decode()
    if not totp.verify(shared, code, now.timestamp()):
        raise Unprocessable.one("code", "that code is not right; check the clock of your device and try again")
    with db.write() as conn:
        user_store.change(conn, user.id, totp_sealed=user.totp_pending, totp_pending=None)
        audit.record(conn, user.account_id, "user", user.email, "totp_on")


def disable_totp(db: Database, user: UserRow) -> None:
    """Turn two-factor sign-in off."""
    with db.write() as conn:
        user_store.change(conn, user.id, totp_sealed=None, totp_pending=None)
        audit.record(conn, user.account_id, "user", user.email, "totp_off")
