"""Send windows (S27) and frequency caps (S28) as pure rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from stepwise.domain.policy import Cap, SendWindow, cap_free_at, next_opening, window_zone

US = 1_000_000


def window(**fields: object) -> SendWindow:
    return SendWindow.model_validate(fields)


def test_S27_a_window_is_open_between_its_times_on_its_days() -> None:
    weekdays = window(**{"days": ["mon", "tue", "wed", "thu", "fri"], "from": "09:00", "to": "17:00"})
    monday_noon = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    assert next_opening(weekdays, "UTC", monday_noon) is None
    assert next_opening(weekdays, "UTC", monday_noon.replace(hour=7)) == monday_noon.replace(hour=9)
    friday_evening = datetime(2026, 12, 11, 18, 0, tzinfo=UTC)
    assert next_opening(weekdays, "UTC", friday_evening) == datetime(2026, 12, 14, 9, 0, tzinfo=UTC)


def test_S27_a_window_over_midnight_opens_on_its_day_and_closes_the_next() -> None:
    night = window(**{"days": ["sat"], "from": "22:00", "to": "06:00"})
    saturday = datetime(2026, 12, 12, 21, 0, tzinfo=UTC)
    assert next_opening(night, "UTC", saturday) == saturday.replace(hour=22)
    assert next_opening(night, "UTC", saturday.replace(hour=23)) is None
    assert next_opening(night, "UTC", datetime(2026, 12, 13, 5, 0, tzinfo=UTC)) is None
    assert next_opening(night, "UTC", datetime(2026, 12, 13, 7, 0, tzinfo=UTC)) == datetime(
        2026, 12, 19, 22, 0, tzinfo=UTC
    )


def test_S27_a_window_is_read_in_the_subscribers_zone_when_valid() -> None:
    anywhere = window(**{"from": "09:00", "to": "17:00"})
    assert anywhere.timezone == "subscriber"
    assert window_zone(anywhere, {"base": {"timezone": "Asia/Tokyo"}}, "UTC") == "Asia/Tokyo"
    assert window_zone(anywhere, {"base": {"timezone": "Mars/Olympus"}}, "Europe/Berlin") == "Europe/Berlin"
    assert window_zone(anywhere, {"base": "flat"}, "UTC") == "UTC"
    fixed = window(**{"from": "09:00", "to": "17:00", "timezone": "America/New_York"})
    assert window_zone(fixed, {"base": {"timezone": "Asia/Tokyo"}}, "UTC") == "America/New_York"
    tokyo_8am = datetime(2026, 12, 7, 23, 0, tzinfo=UTC)  # 08:00 on Tuesday in Tokyo
    assert next_opening(anywhere, "Asia/Tokyo", tokyo_8am) == tokyo_8am + timedelta(hours=1)


@pytest.mark.parametrize(
    "fields",
    [
        {"from": "09:00", "to": "09:00"},
        {"from": "25:00", "to": "09:00"},
        {"from": "09:00", "to": "17:00", "timezone": "Mars/Olympus"},
        {"from": "09:00", "to": "17:00", "days": []},
        {"from": "09:00", "to": "17:00", "days": ["someday"]},
    ],
)
def test_S27_a_bad_window_is_refused(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        SendWindow.model_validate(fields)


def test_S28_a_cap_frees_its_slot_when_the_oldest_counted_email_leaves_the_period() -> None:
    caps = [Cap.model_validate({"emails": 2, "per": "1d"})]
    day = 86_400 * US
    now = 10 * day
    assert cap_free_at(caps, [], now) is None
    assert cap_free_at(caps, [now - 3 * day, now - 2 * 3600 * US], now) is None  # one within the day
    sent = [now - 5 * 3600 * US, now - 2 * 3600 * US]
    assert cap_free_at(caps, sent, now) == sent[0] + day


def test_S28_the_strictest_of_several_caps_decides() -> None:
    hour = 3600 * US
    caps = [Cap.model_validate({"emails": 1, "per": "1h"}), Cap.model_validate({"emails": 3, "per": "1w"})]
    now = 1000 * hour
    sent = [now - 100 * hour, now - 50 * hour, now - 2 * hour]
    assert cap_free_at(caps, sent, now) == sent[0] + 7 * 24 * hour
    assert cap_free_at(caps, sent[1:], now) is None


def test_S28_a_cap_needs_at_least_one_email() -> None:
    with pytest.raises(ValidationError):
        Cap.model_validate({"emails": 0, "per": "1d"})
