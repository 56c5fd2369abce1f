"""Team pages (SPEC §20): users and invitations, API keys, the audit log, and one's own account.

Who may open them is decided in `pages.current_page` (domain/access.py): Team, API keys and Audit
are for owners and admins; /account is every user's own.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from stepwise.domain import totp
from stepwise.domain.access import ROLES
from stepwise.errors import AppError
from stepwise.services import audit, keys, team_links, users
from stepwise.web.pages import FormDep, PageDep, PageRoute, text_of

router = APIRouter(route_class=PageRoute, include_in_schema=False)


@router.get("/users")
def users_page(page: PageDep) -> Response:
    """The account's users and the invitation form."""
    listed = [users.view(u) for u in users.list_users(page.stepwise.db, page.account.id)]
    return page.render("team/users.html", nav="users", users=listed, roles=ROLES)


@router.post("/users/invite")
def invite(page: PageDep, form: FormDep) -> Response:
    """Email an invitation link (valid 7 days)."""
    email, role = text_of(form, "email"), text_of(form, "role", "viewer")
    try:
        team_links.invite(page.stepwise, page.account.id, email, role, page.role, page.now())
    except AppError as exc:
        page.flash(exc.message, "error")
    else:
        page.flash(f"Invitation sent to {email}.")
    return page.redirect("/users")


@router.post("/users/role")
def set_role(page: PageDep, form: FormDep) -> Response:
    """Change a user's role."""
    email = text_of(form, "email")
    try:
        users.set_role(page.stepwise.db, page.account.id, email, text_of(form, "role"), actor_role=page.role)
    except AppError as exc:
        page.flash(exc.message, "error")
    else:
        page.flash(f"{email} is now {text_of(form, 'role')}.")
    return page.redirect("/users")


@router.post("/users/remove")
def remove(page: PageDep, form: FormDep) -> Response:
    """Remove a user (their sessions end)."""
    email = text_of(form, "email")
    try:
        users.remove_user(page.stepwise.db, page.account.id, email, actor_role=page.role)
    except AppError as exc:
        page.flash(exc.message, "error")
    else:
        page.flash(f"{email} removed.")
    return page.redirect("/users")


@router.get("/keys")
def keys_page(page: PageDep) -> Response:
    """The account's API keys."""
    listed = keys.list_keys(page.stepwise.db, page.account.id).items
    return page.render("team/keys.html", nav="keys", keys=listed, new_key=None)


@router.post("/keys")
def create_key(page: PageDep, form: FormDep) -> Response:
    """Make a key and show its secret, once."""
    try:
        made = keys.create_key(
            page.stepwise.db, page.account.id, text_of(form, "name").strip(), text_of(form, "scope"), page.now()
        )
    except AppError as exc:
        page.flash(exc.message, "error")
        return page.redirect("/keys")
    listed = keys.list_keys(page.stepwise.db, page.account.id).items
    return page.render("team/keys.html", nav="keys", keys=listed, new_key=made)


@router.post("/keys/{key_id}/revoke")
def revoke_key(page: PageDep, form: FormDep, key_id: Annotated[int, Path(ge=1, le=2**53)]) -> Response:
    """Revoke a key."""
    try:
        gone = keys.revoke(page.stepwise.db, page.account.id, key_id, page.now())
    except AppError as exc:
        page.flash(exc.message, "error")
    else:
        page.flash(f"Key {gone.name} revoked.")
    return page.redirect("/keys")


@router.get("/audit")
def audit_page(
    page: PageDep,
    object: Annotated[str, Query(max_length=32)] = "",
    key: Annotated[str, Query(max_length=400)] = "",
    cursor: Annotated[str, Query(max_length=100)] = "",
) -> Response:
    """The audit log, newest first, filtered by object type and key."""
    found = audit.entries(
        page.stepwise.db, page.account.id, cursor=cursor or None, limit=50, object_type=object or None, key=key or None
    )
    return page.render("team/audit.html", nav="audit", entries=found, object=object, key=key)


@router.get("/account")
def account_page(page: PageDep) -> Response:
    """One's own account: two-factor sign-in."""
    return _account(page, None)


def _account(page: PageDep, shared: str | None, *, status: int = 200) -> Response:
    user = users.get_user(page.stepwise.db, page.session.user_id or 0)
    enabled = bool(user and user.totp_sealed)
    uri = totp.provisioning_uri(shared, page.session.email) if shared else ""
    return page.render("team/account.html", status=status, enabled=enabled, secret=shared, uri=uri)


@router.post("/account/totp/start")
def totp_start(page: PageDep, form: FormDep) -> Response:
    """Make a TOTP secret to add to an authenticator app (shown this once)."""
    user = users.get_user(page.stepwise.db, page.session.user_id or 0)
    if user is None:
        return page.redirect("/login")
    return _account(page, users.start_totp(page.stepwise.db, page.stepwise.secret, user))


@router.post("/account/totp/confirm")
def totp_confirm(page: PageDep, form: FormDep) -> Response:
    """Turn two-factor sign-in on with a first code."""
    user = users.get_user(page.stepwise.db, page.session.user_id or 0)
    if user is None:
        return page.redirect("/login")
    try:
        users.confirm_totp(page.stepwise.db, page.stepwise.secret, user, text_of(form, "code"), page.now())
    except AppError as exc:
        page.flash(exc.message, "error")
        return page.redirect("/account")
    page.flash("Two-factor sign-in is on.")
    return page.redirect("/account")


@router.post("/account/totp/disable")
def totp_disable(page: PageDep, form: FormDep) -> Response:
    """Turn two-factor sign-in off."""
    user = users.get_user(page.stepwise.db, page.session.user_id or 0)
    if user is not None:
        users.disable_totp(page.stepwise.db, user)
    page.flash("Two-factor sign-in is off.")
    return page.redirect("/account")
