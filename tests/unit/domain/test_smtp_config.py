"""STEPWISE_SMTP_URL read into an SmtpConfig: defaults, every parameter, and each refusal."""

from __future__ import annotations

import pytest

from stepwise.domain.smtp_config import InvalidSmtpUrl, SmtpConfig, parse_url


def test_a_bare_url_takes_the_defaults() -> None:
    assert parse_url("smtp://mail.example.com") == SmtpConfig(host="mail.example.com", port=25)


@pytest.mark.parametrize(
    ("url", "port"),
    [("smtp://h", 25), ("smtp://h?starttls=1", 587), ("smtps://h", 465), ("smtp://h:2525", 2525)],
)
def test_the_port_follows_the_scheme_unless_given(url: str, port: int) -> None:
    assert parse_url(url).port == port


def test_every_parameter_is_read() -> None:
    config = parse_url(
        "smtp://us%40er:p%3Ass@h:587?starttls=yes&verify=off&cafile=/ca.pem&helo=me.test&pool=3&timeout=2.5&serial=0"
    )
    assert config == SmtpConfig(
        host="h",
        port=587,
        username="us@er",
        password="p:ss",
        starttls=True,
        verify=False,
        cafile="/ca.pem",
        helo="me.test",
        pool=3,
        timeout=2.5,
        serial=False,
    )


def test_smtps_means_tls_and_an_empty_password_is_kept() -> None:
    config = parse_url("smtps://user:@h")
    assert (config.use_tls, config.starttls, config.username, config.password) == (True, False, "user", "")


def test_the_last_repeated_parameter_wins() -> None:
    assert parse_url("smtp://h?pool=2&pool=5").pool == 5


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://h", "must start with smtp://"),
        ("smtp://", "no host"),
        ("smtp://h:99999", "bad port"),
        ("smtp://h?tls=1", "unknown SMTP URL parameter(s): tls"),
        ("smtp://h?starttls=maybe", "starttls must be 1 or 0"),
        ("smtps://h?starttls=1", "drop starttls=1"),
        ("smtp://h?pool=many", "must be numbers"),
        ("smtp://h?pool=0", "pool must be 1..100"),
        ("smtp://h?timeout=601", "timeout 0..600"),
        ("smtp://h?timeout=0", "timeout 0..600"),
    ],
)
def test_an_unusable_url_names_its_fault(url: str, reason: str) -> None:
    with pytest.raises(InvalidSmtpUrl) as caught:
        parse_url(url)
    assert reason in str(caught.value)
