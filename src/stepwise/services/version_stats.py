"""Statistics per version (SPEC §13): the `versions` array of the stats and `?version=n`.

Counted from the runs themselves (exact): a run counts on the version it follows now, so a migrated
run counts on the version it moved to. Per-variant `fired` counts exist for the whole sequence only;
with `?version=n` the variants are listed without them, and `converted` (S24) is counted from the runs.
"""

from __future__ import annotations

from collections import defaultdict

from stepwise.domain.rates import conversion_rate
from stepwise.domain.statuses import END_REASONS
from stepwise.errors import NotFound
from stepwise.services import sequences
from stepwise.services.catalog import read_definition
from stepwise.services.journey_stats import variant_mail, with_rates
from stepwise.services.sequences import SequenceStats, StepStats, VersionStats
from stepwise.storage import sequences as sequence_store
from stepwise.storage import versions as version_store
from stepwise.storage.database import Database

OPEN = ("active", "paused")


def stats(db: Database, account_id: int, key: str, version: int | None = None) -> SequenceStats:
    """§7's statistics with the per-version array; with `version`, only that version's runs."""
    whole = sequences.stats(db, account_id, key)
    with db.read() as conn:
        row = sequence_store.get(conn, account_id, key)
        if row is None:
            raise NotFound(f"no sequence {key!r}")
        counts = version_store.run_counts(conn, account_id, row.id)
        known = {v.number: v for v in version_store.all_of(conn, row.id)}
        if version is not None and version not in known:
            raise NotFound(f"sequence {key!r} has no version {version}")
        subscribers = version_store.subscribers_on(conn, account_id, row.id, version) if version else 0
        converted = version_store.converted_on(conn, account_id, row.id, version) if version else 0
    per: dict[int, dict[str, int]] = defaultdict(lambda: {"entered": 0, "on_steps": 0, "completed": 0})
    for number, status, _, _, n in counts:
        per[number]["entered"] += n
        per[number]["on_steps"] += n if status in OPEN else 0
        per[number]["completed"] += n if status == "completed" else 0
    listed = [VersionStats(version=n, **per[n]) for n in sorted(known, reverse=True)]
    if version is None:
        return with_rates(whole, variant_mail(db, account_id, key)).model_copy(update={"versions": listed})
    mine = [c for c in counts if c[0] == version]
    stopped_by = {reason: sum(n for _, s, r, _, n in mine if s == "stopped" and r == reason) for reason in END_REASONS}
    on_step: dict[int, int] = defaultdict(int)
    for _, status, _, step, n in mine:
        if status in OPEN:
            on_step[step] += n
    definition, _ = read_definition(row) if version == row.live_version else (None, None)
    steps_source = definition.steps if definition else known[version].definition.get("steps") or []
    steps = [StepStats(step=s, on_step=on_step.get(s, 0), variants=[]) for s in range(1, len(steps_source) + 1)]
    return whole.model_copy(
        update={
            "entered": per[version]["entered"],
            "subscribers": subscribers,
            "on_steps": per[version]["on_steps"],
            "completed": per[version]["completed"],
            "stopped": sum(stopped_by.values()),
            "stopped_by": stopped_by,
            "steps": steps,
            "versions": listed,
            "version": version,
            "converted": converted,
            "conversion_rate": conversion_rate(converted, per[version]["entered"]),
        }
    )
