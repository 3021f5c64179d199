"""`patrolwatch ingest` stops on SIGTERM/SIGINT at any point and leaves no child behind (issue 15).

Each test starts the real process (worker, coverage evaluator child, picture producer child),
signals it at one point of its life, and waits - with a deadline that only guards against a
hang - for the process to exit and for every process it started to be gone from /proc. What
each stop took is printed (run with ``-s`` to read it; docs/reliability.md has the numbers).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from patrolwatch.store import Store
from tests.integration.ingest_process import IngestProcess, broker_server
from tests.services import wait_until

HANG_S = 60.0  # only guards against a hang: a stop that works takes seconds
SPAWNED = b"multiprocessing.spawn"  # a `spawn` child's command line names this module


def _stat(pid: int) -> tuple[int, str, int] | None:
    """Return (ppid, state, start time) of a process, or None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    fields = raw[raw.rindex(b")") + 2:].split()
    return int(fields[1]), fields[0].decode(), int(fields[19])


def _children(parent: int) -> dict[int, int]:
    """Return the parent's child processes: pid -> start time (to tell a reused pid apart)."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := _stat(int(entry))) is not None and stat[0] == parent:
            found[int(entry)] = stat[2]
    return found


def _spawned(pids: dict[int, int]) -> list[int]:
    """Return those of ``pids`` that are multiprocessing children (not the resource tracker)."""
    out = []
    for pid in pids:
        with contextlib.suppress(OSError):
            if SPAWNED in Path(f"/proc/{pid}/cmdline").read_bytes():
                out.append(pid)
    return out


class Watched:
    """The ingest process and every child it was seen to start."""

    def __init__(self, ingest: IngestProcess) -> None:
        assert ingest.proc is not None
        self.ingest, self.pid = ingest, ingest.proc.pid
        self.seen: dict[int, int] = {}

    def look(self) -> dict[int, int]:
        """Record the children running now, and return them."""
        now = _children(self.pid)
        self.seen.update(now)
        return now

    def leftovers(self) -> list[int]:
        """Return the recorded children still in /proc (running, stopped or defunct)."""
        return [pid for pid, start in self.seen.items()
                if (stat := _stat(pid)) is not None and stat[2] == start]

    def stop_with(self, signum: int) -> tuple[int, float]:
        """Send ``signum``, wait for the exit and the children's end; return (code, seconds)."""
        assert self.ingest.proc is not None
        self.look()
        sent = time.monotonic()
        self.ingest.proc.send_signal(signum)
        deadline = sent + HANG_S
        code = None
        while code is None and time.monotonic() < deadline:
            self.look()
            code = self.ingest.proc.poll()
            time.sleep(0.05)
        took = time.monotonic() - sent
        states = {pid: _stat(pid) for pid in self.seen}
        assert code is not None, (f"ingest still running {HANG_S:.0f} s after "
                                  f"{signal.Signals(signum).name}; children {states}\n"
                                  f"{self.ingest.log()[-3000:]}")
        wait_until(lambda: not self.leftovers(), max(1.0, deadline - time.monotonic()),
                   what=f"the children of ingest to be gone: {self.leftovers()}")
        print(f"\n{signal.Signals(signum).name}: ingest exited {code} after {took:.2f} s "
              f"(children seen: {len(self.seen)})")
        return code, took

    def clean_up(self) -> None:
        """Kill whatever a failed test left behind."""
        for pid in [self.pid, *self.leftovers()]:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGCONT)
                os.kill(pid, signal.SIGKILL)
        self.ingest.stop()


@pytest.fixture
def ingest(redis_url: str, tmp_path: Path) -> Iterator[IngestProcess]:
    """A broker of its own and an ingest process (not started) with both children on."""
    broker = broker_server(tmp_path)
    process = IngestProcess(f"mqtt://127.0.0.1:{broker.port}", redis_url,
                            tmp_path / "ingest.log", verbose=True)
    yield process
    process.stop()
    broker.terminate()


@pytest.fixture
def watched(ingest: IngestProcess) -> Iterator[Watched]:
    """The ingest process started and watched; whatever it leaves is killed afterwards."""
    ingest.start()
    watch = Watched(ingest)
    yield watch
    watch.clean_up()


def _ready(watch: Watched, store: Store) -> tuple[int, int]:
    """Wait until the worker stores and both children run their loops; return their pids."""
    watch.ingest.wait_storing(store)
    wait_until(lambda: ("took the lock; rebuilding" in watch.ingest.log()
                        and store.picture_holder() is not None), 60,
               what=f"both children to run: {watch.ingest.log()[-2000:]}")
    picture = int(str(store.picture_holder()).split(":")[1])
    # Besides the picture producer: the coverage evaluator, started first, and the alarm
    # evaluator (issue 18), started last; pids rise in start order.
    others = sorted((watch.seen[pid], pid) for pid in _spawned(watch.look()) if pid != picture)
    assert picture in watch.seen and len(others) == 2, (picture, watch.seen)
    return others[0][1], picture


def test_a_sigterm_at_once_stops_it_and_leaves_no_child(watched: Watched) -> None:
    """Signalled before the handler is installed it may die of the signal, but leaves nothing."""
    code, _ = watched.stop_with(signal.SIGTERM)
    assert code in (0, -signal.SIGTERM)


def test_a_sigterm_while_children_start_stops_it_cleanly(watched: Watched) -> None:
    """The first child is still importing when the stop comes: no child is waited on unbounded."""
    wait_until(lambda: _spawned(watched.look()), 60, what="the first child process")
    code, _ = watched.stop_with(signal.SIGTERM)
    assert code == 0, watched.ingest.log()[-3000:]


def test_a_sigterm_while_a_starting_child_cannot_answer_stops_it(watched: Watched) -> None:
    """A child stopped while still importing never reads the stop: it is killed and reaped."""
    first = wait_until(lambda: _spawned(watched.look()), 60, what="the first child process")[0]
    os.kill(first, signal.SIGSTOP)
    code, _ = watched.stop_with(signal.SIGTERM)
    assert code == 0, watched.ingest.log()[-3000:]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_running_ingest_stops_cleanly(watched: Watched, redis_url: str,
                                        signum: signal.Signals) -> None:
    """Both children running, then SIGTERM or Ctrl-C: exit 0, children gone."""
    _ready(watched, Store.from_url(redis_url))
    code, _ = watched.stop_with(signum)
    assert code == 0, watched.ingest.log()[-3000:]


@pytest.mark.parametrize("victim", ["coverage", "picture", "both"])
def test_it_stops_after_a_child_was_killed(watched: Watched, redis_url: str,
                                           victim: str) -> None:
    """A child killed (defunct until reaped) must not hold the parent's stop."""
    coverage, picture = _ready(watched, Store.from_url(redis_url))
    pids = {"coverage": [coverage], "picture": [picture], "both": [coverage, picture]}[victim]
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    wait_until(lambda: all((s := _stat(p)) is None or s[1] == "Z" for p in pids), 30,
               what="the killed child to be defunct")
    code, _ = watched.stop_with(signal.SIGTERM)
    assert code == 0, watched.ingest.log()[-3000:]


@pytest.mark.parametrize("victim", ["coverage", "picture"])
def test_it_stops_while_a_child_cannot_answer(watched: Watched, redis_url: str,
                                              victim: str) -> None:
    """A child that is stopped (SIGSTOP) cannot answer: it is killed, not waited for forever."""
    coverage, picture = _ready(watched, Store.from_url(redis_url))
    pid = coverage if victim == "coverage" else picture
    os.kill(pid, signal.SIGSTOP)
    wait_until(lambda: (s := _stat(pid)) is not None and s[1] == "T", 30,
               what="the child to be stopped")
    code, _ = watched.stop_with(signal.SIGTERM)
    assert code == 0, watched.ingest.log()[-3000:]


def test_the_children_stop_themselves_when_ingest_is_killed(watched: Watched,
                                                            redis_url: str) -> None:
    """SIGKILL the parent (no stop sequence at all): its children notice and end on their own."""
    _ready(watched, Store.from_url(redis_url))
    assert watched.ingest.proc is not None
    watched.ingest.proc.kill()
    watched.ingest.proc.wait(HANG_S)
    wait_until(lambda: not [p for p in watched.leftovers()
                            if (s := _stat(p)) is not None and s[1] != "Z"], HANG_S,
               what=f"the orphaned children to end: {watched.leftovers()}")
