"""SPEC §12: a hanging call_url target and a slow SMTP server slow only their own deliveries, in a real worker.

tests/integration/delivery covers this for the delivery loop alone (test_call_url.py: a hanging
target is abandoned at its deadline while other deliveries go on; test_guarantees.py: a slow SMTP
server does not hold up URL calls). This is the cheap process-level variant: one `stepwise worker`
process, where the advancing loop must keep moving runs while the delivery loop has one call
hanging and one email stuck in DATA, and every other subscriber's call and email must get through.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.chaos.harness import Fleet, Probe, Shop, audit
from tests.chaos.harness import smtp_sink as start_sink
from tests.integration.delivery.servers import HttpTarget
from tests.support.process import env_for
from tests.support.waiting import eventually

pytestmark = pytest.mark.chaos

OTHERS = 200
HANGING = "hanging@example.com"  # its call_url target does not answer
SLOW = "slow@example.com"  # the SMTP server holds its message in DATA


@pytest.fixture
def target() -> Iterator[HttpTarget]:
    server = HttpTarget().start()
    yield server
    server.stop()


def _definitions(base: str) -> dict[str, object]:
    return {
        "drafts": {"hello": {"subject": "Hello", "html": "<p>Hello</p>", "from_email": "news@example.com"}},
        "sequences": {
            "flow": {
                "name": "Flow",
                "status": "active",
                "steps": [
                    {
                        "variants": [
                            {
                                "when": [{"event": "subscriber_added"}],
                                "do": [
                                    {"action": "call_url", "url": base + "/{{ data.base.firstName }}"},
                                    {"action": "send_email", "draft": "hello"},
                                ],
                            }
                        ]
                    },
                    {"variants": [{"when": [{"event": "time_passed", "after": "1s"}], "do": [{"action": "nothing"}]}]},
                ],
            }
        },
    }


def test_a_hanging_call_url_target_and_a_slow_smtp_server_do_not_stall_other_work(
    chaos_database: str, tmp_path: Path, target: HttpTarget
) -> None:
    env = env_for(chaos_database, STEPWISE_ALLOW_PRIVATE_URLS="true", STEPWISE_SEND_RATE="100000")
    shop = Shop(chaos_database, "chaos", _definitions(target.base), tmp_path)
    probe = Probe(chaos_database)
    others = [f"reader{n}@example.com" for n in range(OTHERS)]
    everyone = [HANGING, SLOW, *others]

    def called(kind: str) -> int:
        return probe.value("SELECT count(*) FROM timeline WHERE kind = :kind", kind=kind)

    with start_sink(tmp_path / "sink", hold_prefix="slow") as sink:
        fleet = Fleet(env, sink, tmp_path / "logs")
        try:
            fleet.start(1)
            shop.import_subscribers([HANGING, SLOW], names={HANGING: "hang"})
            # Both stuck deliveries are in progress before the others arrive.
            eventually(lambda: "/hang" in target.paths(), timeout=120, interval=0.05)
            stuck_since = time.monotonic()
            shop.import_subscribers(others)

            def others_done() -> tuple[int, int, int]:
                mailed = len({r.recipient for r in sink.receipts()} & set(others))
                completed = probe.value("SELECT count(*) FROM runs WHERE status = 'completed'")
                return mailed, called("url_called"), completed  # every call but the hanging one

            try:
                eventually(lambda: others_done() == (OTHERS, OTHERS + 1, len(everyone)), timeout=120, interval=0.1)
            except AssertionError as exc:
                raise AssertionError(f"(emails, calls, completed runs) = {others_done()}\n{fleet.tails()}") from exc
            flowed = time.monotonic() - stuck_since
            held = not target.release.is_set() and SLOW not in {r.recipient for r in sink.receipts()}
            print(
                f"\nchaos slow targets: {OTHERS} other subscribers' calls, emails and runs done in {flowed:.1f}s "
                f"while one call hung and one email sat in DATA (still held: {held})"
            )
            assert held, "the hanging call or the slow email finished before the others: the test proved nothing"
            assert called("url_retry") == 0, "the hanging call hit its 10 s deadline before the others were done"

            target.release.set()
            sink.release()
            eventually(lambda: probe.value("SELECT count(*) FROM outbox") == 0, timeout=120, interval=0.1)
            codes = fleet.stop_all()
            assert codes == {"w1": 0}, f"{codes}\n{fleet.tails()}"
        finally:
            fleet.stop_all(timeout=30)
            target.release.set()
        result = audit(probe, sink)
    shop.close()
    probe.dispose()

    assert result.issues == {"sent": len(everyone)}, result.issues
    assert (result.duplicates, result.lost) == (0, []), result.duplicated()
    assert called("url_called") == len(everyone)
    assert result.runs == {"completed": len(everyone)}, result.runs
