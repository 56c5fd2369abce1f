"""Who may do what: user roles in the UI (SPEC S33) and API key scopes (SPEC S34), decided in one place each.

Both are decided by method and path, so pages and endpoints added later are covered without
listing them: reads (GET, HEAD) are open to every role and scope; everything else is a change.
"""

from __future__ import annotations

ROLES = ("owner", "admin", "editor", "viewer")
SCOPES = ("read", "write", "events")
READS = frozenset({"GET", "HEAD", "OPTIONS"})

# The UI sections an editor may change (SPEC S33: sequences, drafts, lists, segments, forms,
# subscribers, imports, publishing). Everything else that changes something needs an admin.
EDITOR_SECTIONS = ("sequences", "drafts", "lists", "segments", "forms", "subscribers", "imports", "set-aside")
# Sections only owners and admins may even read (they hold people's addresses and keys' names).
ADMIN_SECTIONS = ("users", "keys", "audit")
# Paths every signed-in user may post to: their own sign-out and their own account page.
SELF_SERVICE = ("logout", "account")

# POSTs that only compute an answer and change nothing (a forecast, a rendered preview): reads for
# every role and scope, although they carry a body.
READING_POSTS = ("/simulate", "/forecast", "/preview")

# What an `events` key may call (SPEC S34): method, path under /api/v1.
EVENTS_CALLS = frozenset(
    {("POST", "/events"), ("POST", "/subscribers"), ("POST", "/bounces"), ("POST", "/bounces/raw")}
)


def _reads(method: str, path: str) -> bool:
    """A read: GET, HEAD, OPTIONS, or one of the POSTs that only compute (READING_POSTS)."""
    method = method.upper()
    return method in READS or (method == "POST" and path.rstrip("/").endswith(READING_POSTS))


def _section(path: str) -> str:
    """The UI section of a path: its first segment, or the second under /ui (the upload of /ui/imports)."""
    parts = path.strip("/").split("/")
    return parts[1] if parts[0] == "ui" and len(parts) > 1 else parts[0]


def role_allows(role: str, method: str, path: str) -> bool:
    """Tell whether a user of this role may make this UI request."""
    section = _section(path)
    if role in ("owner", "admin"):
        return True
    if section in ADMIN_SECTIONS:
        return False
    if _reads(method, path) or section in SELF_SERVICE:
        return True
    return role == "editor" and section in EDITOR_SECTIONS


def may_assign(actor_role: str, target_role: str, current_role: str | None = None) -> bool:
    """Owners assign any role; admins any but owner, and they cannot change an owner (SPEC S33)."""
    if actor_role == "owner":
        return True
    if actor_role != "admin":
        return False
    return target_role != "owner" and current_role != "owner"


def scope_allows(scope: str, method: str, path: str) -> bool:
    """Tell whether a key of this scope may call this API path (the part after /api/v1)."""
    method = method.upper()
    if scope == "write":
        return True
    if scope == "read":
        return _reads(method, path)
    if scope == "events":
        return (method, "/" + path.strip("/")) in EVENTS_CALLS
    return False
