"""Errors the services raise; the API and CLI translate them (SPEC §8 error format)."""

from __future__ import annotations

from typing import Any

from stepwise.domain.problems import Invalid, Problem


class AppError(Exception):
    """An error with a stable code and an HTTP status."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details


class NotFound(AppError):
    status = 404
    code = "not_found"


class Conflict(AppError):
    status = 409
    code = "conflict"


class Unprocessable(AppError):
    status = 422
    code = "invalid"

    @classmethod
    def of(cls, problems: list[Problem], message: str = "the input is invalid") -> Unprocessable:
        return cls(message, details=[p.as_dict() for p in problems])

    @classmethod
    def one(cls, path: str, message: str) -> Unprocessable:
        return cls.of([Problem(path, message)], message)


class TooLarge(AppError):
    status = 413
    code = "too_large"


class UnsupportedMediaType(AppError):
    status = 415
    code = "unsupported_media_type"


class Unauthorized(AppError):
    status = 401
    code = "unauthorized"


class RateLimited(AppError):
    status = 429
    code = "rate_limited"


class Upstream(AppError):
    """A server Stepwise had to ask did not answer as needed."""

    status = 502
    code = "upstream_failed"


class UnreadableRow(ValueError):
    """A stored row that cannot be decoded (written behind the application's back, or damaged).

    Not an AppError: the worker sets such rows aside; the API answers 409 `unreadable`.
    """


def from_invalid(error: Invalid) -> Unprocessable:
    return Unprocessable.of(error.problems, error.message)
