"""The one rounding of the stats' rates."""

from stepwise.domain.rates import conversion_rate


def test_S24_conversion_rate_rounds_to_four_places_and_is_none_without_entries() -> None:
    assert conversion_rate(1, 3) == 0.3333
    assert conversion_rate(0, 0) is None
