"""Composition root: settings -> database, catalog, signer, transport, worker."""

from __future__ import annotations

from functools import partial

from stepwise.clock import Clock, system_clock
from stepwise.config import Settings
from stepwise.delivery.hook_client import HookClient
from stepwise.delivery.tokens import TokenSigner
from stepwise.delivery.webhooks import UrlCaller
from stepwise.metrics import observe_accepted, observe_batch, observe_delivery
from stepwise.services import date_triggers, segments, versions
from stepwise.services.advancing_store import DatabaseAdvanceStore
from stepwise.services.context import Context
from stepwise.services.delivery_store import DatabaseDeliveryStore
from stepwise.services.secret import instance_secret
from stepwise.services.webhook_delivery import DatabaseWebhookStore
from stepwise.storage import inbox as inbox_store
from stepwise.storage import migrate as migrations
from stepwise.storage.database import Database
from stepwise.storage.notify import DELIVERY, WORK, Listener
from stepwise.worker.advancing import Advancer
from stepwise.worker.delivery import Deliverer
from stepwise.worker.runner import WorkerThreads
from stepwise.worker.webhooks import WebhookDeliverer


class Stepwise(Context):
    """Everything a process needs, wired once: the context plus the worker loops and the transport."""

    def worker(self) -> WorkerThreads:
        """The advancing and delivery loops of this process (not started)."""
        advancer = Advancer(
            DatabaseAdvanceStore(self.db, self.catalog), self.clock, batch_size=self.settings.batch_size
        )
        advancer.timed = [
            partial(segments.retest_due, self.db),
            partial(date_triggers.backfill, self.db),
            partial(date_triggers.fire_due, self.db),
        ]
        deliverer = Deliverer(
            DatabaseDeliveryStore(self.db, self.secret, self.catalog),
            self.transport(),
            self.signer,
            self.settings.base_url,
            self.clock,
            on_result=observe_delivery,
            urls=UrlCaller(allow_private=self.settings.allow_private_urls),
        )
        threads = WorkerThreads(
            advancer,
            deliverer,
            self.db.wakeup,
            self.db.delivery_wakeup,
            poll_interval=self.settings.poll_interval,
            on_batch=lambda r: observe_batch(r.events, r.transitions, r.commands),
            webhooks=WebhookDeliverer(
                DatabaseWebhookStore(self.db, self.secret),
                HookClient(allow_private=self.settings.allow_private_urls),
                self.clock,
            ),
            upkeep=lambda: versions.resume_migrations(self.db, self.clock()),  # migrations a killed process left
        )
        if not self.db.is_sqlite:
            notified = {WORK: threads.wakeup.set, DELIVERY: threads.delivery_wakeup.set}
            threads.listen(Listener(self.settings.database_url, notified))
        return threads


def build(settings: Settings | None = None, *, clock: Clock = system_clock, migrate: bool = True) -> Stepwise:
    """Open the database (creating and migrating it if asked) and wire the services."""
    settings = settings or Settings()
    db = Database(settings.database_url)
    if migrate:
        migrations.upgrade(db)
    secret = instance_secret(db, settings.secret_key, settings.secret_file)
    if observe_accepted not in inbox_store.ADDED:
        inbox_store.ADDED.append(observe_accepted)
    return Stepwise(settings=settings, db=db, signer=TokenSigner(secret), clock=clock, secret=secret)
