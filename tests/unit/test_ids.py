"""Application ids: unique within a process, across threads, and in a forked child."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

from stepwise.ids import new_id


def test_ids_are_unique_across_threads_and_ordered_within_one() -> None:
    with ThreadPoolExecutor(4) as pool:
        batches = list(pool.map(lambda _: [new_id() for _ in range(2000)], range(4)))
    every = [i for batch in batches for i in batch]
    assert len(set(every)) == len(every)
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in every)
    assert all(batch == sorted(batch) for batch in batches)


def test_a_forked_child_draws_its_own_random_part() -> None:
    parent = new_id()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report one id and leave at once
        os.write(write, new_id().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    os.close(read)
    assert child[12:22] != parent[12:22]  # the 40 random bits after the 48-bit clock
