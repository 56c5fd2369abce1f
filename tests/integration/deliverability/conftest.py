"""Fixtures of the deliverability tests: the delivery tests' shop, SMTP server and HTTP target."""

from __future__ import annotations

from tests.integration.delivery.conftest import http_target, shop, smtp

__all__ = ["http_target", "shop", "smtp"]
