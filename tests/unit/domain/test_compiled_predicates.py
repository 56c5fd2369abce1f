"""S22: a compiled predicate answers exactly what the general evaluation answers, on any rule and profile."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, get_args

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from stepwise.domain.compiled_predicates import compile_predicate
from stepwise.domain.predicates import Op, Predicate, evaluate

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ADAPTER: TypeAdapter[Predicate] = TypeAdapter(Predicate)
FIELDS = ["a", "b.c", "subscriber.lists", "subscriber.created_at"]
OPS = list(get_args(Op))  # every operator a rule may use
strings = st.sampled_from(
    ["", "Paris", "paris", "PARIS", "ari", "5", " 7.5 ", "2026-03-01", "2026-03-02T10:00:00Z", "x.y"]
)
numbers = st.one_of(st.integers(-3, 10), st.sampled_from([0.5, 5.0, -1.25]))
scalars = st.one_of(strings, strings, numbers, st.booleans())  # strings twice: most rules compare text
relative = st.sampled_from([{"now": "-1d"}, {"now": "2h"}])
VALUES: dict[str, Any] = {
    "eq": st.one_of(scalars, relative),
    "ne": st.one_of(scalars, relative),
    "contains": scalars,
    "starts_with": strings,
    "ends_with": strings,
    "in": st.lists(scalars, min_size=1, max_size=3),
    "not_in": st.lists(scalars, min_size=1, max_size=3),
    "exists": st.none(),
    "not_exists": st.none(),
}


def _comparison(op: str) -> Any:
    value = VALUES.get(op, st.one_of(numbers, strings, relative))
    return st.builds(
        lambda field, v, size, ignore: {
            "field": field,
            "op": op,
            **({"value": v} if v is not None else {}),
            **({"fn": "size"} if size else {}),
            **({"ignore_case": True} if ignore else {}),
        },
        st.sampled_from(FIELDS),
        value,
        st.sampled_from([False, False, False, True]),  # `size` of the value now and then
        st.booleans(),
    )


def _valid(raw: dict[str, Any]) -> bool:
    try:
        ADAPTER.validate_python(raw)
    except ValidationError:
        return False
    return True


comparisons = st.sampled_from(OPS).flatmap(_comparison).filter(_valid)
predicates = st.recursive(
    comparisons,
    lambda inner: st.one_of(
        st.builds(lambda items: {"all": items}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda items: {"any": items}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda item: {"not": item}, inner),
    ),
    max_leaves=5,
)
INTERESTING: list[Any] = [
    None, "", "Paris", "paris", "PARIS", "5", " 7.5 ", "2026-03-01", "2026-03-02T10:00:00Z", "x.y", "soon",
    5, 0, 0.5, -1.25, True, False, [], ["Paris", "5"], [5, "x.y"], {"c": "Paris"}, {},
]  # fmt: skip
# Every interesting value at every field (and absent), so each generated rule meets them all.
PROFILES: list[dict[str, Any]] = [{}] + [
    {"a": v, "b": {"c": v}, "subscriber": {"lists": v, "created_at": v}} for v in INTERESTING
]


@settings(max_examples=1500, deadline=None)
@given(raw=predicates)
def test_S22_a_compiled_predicate_equals_the_general_evaluation(raw: dict[str, Any]) -> None:
    predicate = ADAPTER.validate_python(raw)
    check = compile_predicate(predicate)
    for data in PROFILES:
        assert check(data, NOW) == evaluate(predicate, data, NOW), data


def test_S22_compiling_refuses_what_is_not_a_predicate() -> None:
    import pytest

    with pytest.raises(TypeError):
        compile_predicate("nope")  # type: ignore[arg-type]
