"""`STEPWISE_SMTP_URL` read into an SmtpConfig (the query parameters are listed in delivery/smtp.py)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class InvalidSmtpUrl(ValueError):
    """STEPWISE_SMTP_URL cannot be used."""


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    """Where and how to reach the SMTP server, read from STEPWISE_SMTP_URL."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None
    use_tls: bool = False  # smtps://
    starttls: bool = False
    verify: bool = True
    cafile: str | None = None
    helo: str | None = None
    pool: int = 8
    timeout: float = 30.0  # overall deadline of one message, connecting included
    serial: bool = True  # one final dot at a time, each recorded before the next (see the module's doc)
    max_messages: int = 500  # per connection, then a fresh one (some servers cap it)
    idle_seconds: float = 60.0  # idle connections older than this are dropped, not reused


def parse_url(url: str) -> SmtpConfig:
    """Read an smtp:// or smtps:// URL; raise InvalidSmtpUrl with the reason."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps"):
        raise InvalidSmtpUrl("the SMTP URL must start with smtp:// or smtps://")
    if not parts.hostname:
        raise InvalidSmtpUrl("the SMTP URL has no host")
    try:
        port = parts.port
    except ValueError as exc:
        raise InvalidSmtpUrl(f"bad port: {exc}") from exc
    query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    known = {"starttls", "verify", "cafile", "helo", "pool", "timeout", "serial"}
    unknown = sorted(set(query) - known)
    if unknown:
        raise InvalidSmtpUrl(f"unknown SMTP URL parameter(s): {', '.join(unknown)}")

    def flag(name: str, default: bool) -> bool:
        value = query.get(name)
        if value is None:
            return default
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        raise InvalidSmtpUrl(f"{name} must be 1 or 0")

    use_tls = parts.scheme == "smtps"
    starttls = flag("starttls", False)
    if use_tls and starttls:
        raise InvalidSmtpUrl("smtps:// already uses TLS; drop starttls=1")
    try:
        pool = int(query.get("pool", "8"))
        timeout = float(query.get("timeout", "30"))
    except ValueError as exc:
        raise InvalidSmtpUrl(f"pool and timeout must be numbers: {exc}") from exc
    if not 1 <= pool <= 100 or not 0 < timeout <= 600:
        raise InvalidSmtpUrl("pool must be 1..100 and timeout 0..600 seconds")
    return SmtpConfig(
        host=parts.hostname,
        port=port or (465 if use_tls else 587 if starttls else 25),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        use_tls=use_tls,
        starttls=starttls,
        verify=flag("verify", True),
        cafile=query.get("cafile") or None,
        helo=query.get("helo") or None,
        pool=pool,
        timeout=timeout,
        serial=flag("serial", True),
    )
