"""Random splits (SPEC §16, S23): a step whose variants each fire by `split` with a weight.

The variant is chosen from a hash of (account, sequence, subscriber, pass, step): reproducible and
computed without a database round trip.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from stepwise.domain.problems import Problem
from stepwise.domain.spec_base import Spec as _Spec

if TYPE_CHECKING:
    from stepwise.domain.definition import Step

MAX_WEIGHT = 1_000_000


class Split(_Spec):
    event: Literal["split"]
    weight: int = Field(ge=0, le=MAX_WEIGHT, strict=True)


def split_weights(step: Step) -> tuple[int, ...] | None:
    """The weights of a split step (every variant fires by `split` alone), or None for any other step."""
    weights: list[int] = []
    for variant in step.variants:
        if len(variant.when) != 1 or not isinstance(variant.when[0], Split):
            return None
        weights.append(variant.when[0].weight)
    return tuple(weights)


def split_problems(step: Step, index: int) -> list[Problem]:
    """Problems of the `split` specs of one step (0-based `index`): the step's shape and its weights."""
    base = f"$.steps[{index}].variants"
    if not any(isinstance(spec, Split) for variant in step.variants for spec in variant.when):
        return []
    found: list[Problem] = []  # in step 1 `split` is refused as a wait is (validation._check_event)
    weights = split_weights(step)
    if weights is None:
        found.append(
            Problem(base, "in a split step every variant must have exactly one 'split' event and nothing else")
        )
        return found
    if len(weights) < 2:
        found.append(Problem(base, "a split step needs at least two variants"))
    if sum(weights) == 0:
        found.append(Problem(base, "the weights of a split step must not all be 0"))
    return found


def split_draw(account: int, sequence: str, subscriber: int, pass_no: int, step: int) -> float:
    """A number in [0, 1), uniform over subscribers, fixed for (account, sequence, subscriber, pass, step)."""
    key = f"{account}\x1f{sequence}\x1f{subscriber}\x1f{pass_no}\x1f{step}".encode()
    value = int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big")
    return value / 2**64


def choose_variant(weights: Sequence[int], draw: float) -> int:
    """The 0-based variant a draw in [0, 1) picks: variant i with probability weights[i] / sum(weights)."""
    total = sum(weights)
    point = draw * total
    running = 0
    last = 0
    for index, weight in enumerate(weights):
        if weight <= 0:
            continue
        running += weight
        last = index
        if point < running:
            return index
    return last  # rounding at the very top of the range
