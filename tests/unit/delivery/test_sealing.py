"""Sealed secrets open only with the same secret and purpose, and any change makes them unsealable."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stepwise.delivery.sealing import Unsealable, seal, unseal

SECRET = "server-secret-key-0123456789"
PURPOSE = "dkim-private-key"
DATA = b"-----BEGIN PRIVATE KEY-----\nMIIE...\n-----END PRIVATE KEY-----\n"


def test_a_sealed_value_unseals_to_the_data() -> None:
    assert unseal(SECRET, PURPOSE, seal(SECRET, PURPOSE, DATA)) == DATA


def test_the_sealed_form_is_v1_and_url_safe_base64_of_nonce_ciphertext_and_tag() -> None:
    sealed = seal(SECRET, PURPOSE, DATA)
    assert sealed.isascii() and sealed.startswith("v1.")
    raw = base64.urlsafe_b64decode(sealed[3:])
    assert len(raw) == 12 + len(DATA) + 16
    assert DATA not in raw


def test_sealing_twice_gives_different_values() -> None:
    assert seal(SECRET, PURPOSE, DATA) != seal(SECRET, PURPOSE, DATA)


def test_empty_data_round_trips() -> None:
    assert unseal(SECRET, PURPOSE, seal(SECRET, PURPOSE, b"")) == b""


def test_a_wrong_secret_is_unsealable() -> None:
    with pytest.raises(Unsealable):
        unseal(SECRET + "x", PURPOSE, seal(SECRET, PURPOSE, DATA))


def test_a_wrong_purpose_is_unsealable() -> None:
    with pytest.raises(Unsealable):
        unseal(SECRET, "provider-signing-key", seal(SECRET, PURPOSE, DATA))


def test_every_changed_character_is_unsealable() -> None:
    sealed = seal(SECRET, PURPOSE, b"short secret")
    for index in range(len(sealed)):
        for replacement in {"A", "a", "_", "0", "="} - {sealed[index]}:
            tampered = sealed[:index] + replacement + sealed[index + 1 :]
            with pytest.raises(Unsealable):
                unseal(SECRET, PURPOSE, tampered)


def test_every_flipped_bit_is_unsealable() -> None:
    raw = base64.urlsafe_b64decode(seal(SECRET, PURPOSE, DATA)[3:])
    for index in range(len(raw)):
        flipped = raw[:index] + bytes([raw[index] ^ 0x01]) + raw[index + 1 :]
        with pytest.raises(Unsealable):
            unseal(SECRET, PURPOSE, "v1." + base64.urlsafe_b64encode(flipped).decode())


def test_a_truncated_or_extended_value_is_unsealable() -> None:
    sealed = seal(SECRET, PURPOSE, DATA)
    raw = base64.urlsafe_b64decode(sealed[3:])
    for cut in (1, 2, 4, 16, 40, len(sealed) - 3):
        with pytest.raises(Unsealable):
            unseal(SECRET, PURPOSE, sealed[:-cut])
    for shorter in (raw[:-1], raw[:-16], raw[:28], raw[:27], raw[:12], b""):
        with pytest.raises(Unsealable):
            unseal(SECRET, PURPOSE, "v1." + base64.urlsafe_b64encode(shorter).decode())
    with pytest.raises(Unsealable):
        unseal(SECRET, PURPOSE, "v1." + base64.urlsafe_b64encode(raw + b"\0").decode())


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "v1.",
        "v1",
        "v2." + "A" * 40,
        "A" * 60,
        "v1.!!!!",
        "v1.AAAA====",
        "v1.é" + "A" * 40,
        " v1." + "A" * 40,
        "v1.A",
        None,
        b"v1.AAAA",
        7,
    ],
)
def test_garbage_is_unsealable(garbage: Any) -> None:
    with pytest.raises(Unsealable):
        unseal(SECRET, PURPOSE, garbage)


def test_unsealing_without_a_secret_or_purpose_is_unsealable() -> None:
    sealed = seal(SECRET, PURPOSE, DATA)
    for secret, purpose in (("", PURPOSE), (SECRET, ""), (None, PURPOSE)):
        with pytest.raises(Unsealable):
            unseal(secret, purpose, sealed)  # type: ignore[arg-type]


def test_sealing_without_a_secret_or_purpose_is_refused() -> None:
    with pytest.raises(ValueError, match="secret"):
        seal("", PURPOSE, DATA)
    with pytest.raises(ValueError, match="purpose"):
        seal(SECRET, "", DATA)


@settings(max_examples=200, deadline=None)
@given(secret=st.text(min_size=1), purpose=st.text(min_size=1), data=st.binary(max_size=2048))
def test_any_secret_purpose_and_data_round_trip(secret: str, purpose: str, data: bytes) -> None:
    assert unseal(secret, purpose, seal(secret, purpose, data)) == data


@settings(max_examples=200, deadline=None)
@given(
    secret=st.text(min_size=1),
    other=st.text(min_size=1),
    purpose=st.text(min_size=1),
    data=st.binary(max_size=256),
)
def test_any_other_secret_or_purpose_is_unsealable(secret: str, other: str, purpose: str, data: bytes) -> None:
    sealed = seal(secret, purpose, data)
    if other != secret:
        with pytest.raises(Unsealable):
            unseal(other, purpose, sealed)
    if other != purpose:
        with pytest.raises(Unsealable):
            unseal(secret, other, sealed)


@settings(max_examples=300, deadline=None)
@given(sealed=st.one_of(st.text(), st.text().map(lambda text: "v1." + text)))
def test_any_random_string_is_unsealable_and_raises_nothing_else(sealed: str) -> None:
    with pytest.raises(Unsealable):
        unseal(SECRET, PURPOSE, sealed)


def test_a_secret_with_a_lone_surrogate_round_trips_and_stays_distinct() -> None:
    sealed = seal("key\udcff", PURPOSE, DATA)
    assert unseal("key\udcff", PURPOSE, sealed) == DATA
    with pytest.raises(Unsealable):
        unseal("key\udcfe", PURPOSE, sealed)
