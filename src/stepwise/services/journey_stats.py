"""Email rates per step variant of a sequence, for the sequence picture (S23: a split's variants side by side)."""

from __future__ import annotations

from dataclasses import dataclass

from stepwise.domain.rates import conversion_rate
from stepwise.services.sequences import SequenceStats
from stepwise.storage import counters as counter_store
from stepwise.storage import issues as issue_store
from stepwise.storage import sequences as sequence_store
from stepwise.storage.database import Database


@dataclass(frozen=True, slots=True)
class VariantMail:
    sent: int
    opened: int
    clicked: int

    @property
    def open_rate(self) -> float:
        """Unique opens per email sent, in percent (0 when nothing was sent)."""
        return round(100 * self.opened / self.sent, 1) if self.sent else 0.0

    @property
    def click_rate(self) -> float:
        """Unique clicks per email sent, in percent (0 when nothing was sent)."""
        return round(100 * self.clicked / self.sent, 1) if self.sent else 0.0


def variant_mail(db: Database, account_id: int, sequence: str) -> dict[tuple[int, int], VariantMail]:
    """Emails sent, opened and clicked by (step, variant) of one sequence (S19: since its last stats reset)."""
    with db.read() as conn:
        row = sequence_store.get(conn, account_id, sequence)
        since = counter_store.reset_moment(conn, account_id, row.id) if row is not None else None
        rows = issue_store.variant_counts(conn, account_id, sequence, since)
    return {(step, variant): VariantMail(sent, opened, clicked) for step, variant, sent, opened, clicked in rows}


def with_rates(stats: SequenceStats, mail: dict[tuple[int, int], VariantMail]) -> SequenceStats:
    """The statistics with each variant's emails and rates (open, click, conversion) filled in."""

    def rate(part: int, whole: int) -> float | None:
        return conversion_rate(part, whole)  # the same rounding: 4 places, None for nothing

    steps = []
    for step in stats.steps:
        variants = []
        for v in step.variants:
            m = mail.get((step.step, v.variant), VariantMail(0, 0, 0))
            figures = {"sent": m.sent, "opened": m.opened, "clicked": m.clicked}
            rates = {"open_rate": rate(m.opened, m.sent), "click_rate": rate(m.clicked, m.sent)}
            variants.append(v.model_copy(update=figures | rates | {"conversion_rate": rate(v.converted, v.fired)}))
        steps.append(step.model_copy(update={"variants": variants}))
    return stats.model_copy(update={"steps": steps})
