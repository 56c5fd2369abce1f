"""One typed settings object, read from STEPWISE_* environment variables (SPEC §11)."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from stepwise.domain.schedules import InvalidSchedule, zone


class Settings(BaseSettings):
    """Runtime configuration. CLI options override the environment where they exist."""

    model_config = SettingsConfigDict(env_prefix="STEPWISE_", extra="ignore")

    database_url: str = "sqlite:///stepwise.db"
    smtp_url: str | None = None
    base_url: str = "http://127.0.0.1:8000"
    secret_key: str | None = None
    # Where the secret lives when STEPWISE_SECRET_KEY is unset (created 0600 if missing); default
    # `<database file>.secret` for SQLite, `./stepwise.secret` for PostgreSQL (services/secret.py).
    secret_file: str | None = None
    timezone: str = "UTC"
    send_rate: float = Field(default=100.0, gt=0)
    allow_private_urls: bool = False
    # Not in the SPEC table: tuning knobs with safe defaults.
    batch_size: int = Field(default=200, ge=1, le=5000)
    poll_interval: float = Field(default=0.2, gt=0)
    max_body_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    max_upload_bytes: int = Field(default=2 * 1024 * 1024 * 1024, ge=1024)
    log_level: str = "info"
    # HTTP limits (see stepwise.serving): seconds for a request's headers, seconds of silence while a
    # body is read, seconds an idle keep-alive connection is kept, open connections, requests in progress.
    header_timeout: float = Field(default=10.0, gt=0, le=3600)
    body_timeout: float = Field(default=30.0, gt=0, le=3600)
    keep_alive_timeout: int = Field(default=5, ge=1, le=3600)
    max_connections: int = Field(default=1000, ge=16, le=1_000_000)
    max_requests: int = Field(default=200, ge=1, le=100_000)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zone(value)
        except InvalidSchedule as exc:
            raise ValueError(str(exc)) from exc
        return value

    @field_validator("smtp_url")
    @classmethod
    def _usable_smtp_url(cls, value: str | None) -> str | None:
        if value:
            from stepwise.domain.smtp_config import InvalidSmtpUrl, parse_url

            try:
                parse_url(value)
            except InvalidSmtpUrl as exc:
                raise ValueError(str(exc)) from exc
        return value or None

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")
