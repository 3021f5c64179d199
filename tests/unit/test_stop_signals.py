"""A SIGTERM that lands while the main thread holds the stop event's lock still stops (issue 15).

A signal handler runs on the main thread between two bytecodes; if that thread is inside
``stop.wait()``, between taking the event's (non-reentrant) lock and releasing it, a handler
calling ``stop.set()`` waits for itself forever. Each case runs in a process of its own, so
a deadlock fails the test at its timeout instead of hanging the run.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SETUPS = {
    "patrolwatch command": "from patrolwatch.cli import _stop_on_signals\n"
                           "stop = _stop_on_signals()",
    "ingest child": "import logging, multiprocessing\n"
                    "from ingest.service import _child_setup\n"
                    "reader, writer = multiprocessing.Pipe(duplex=False)\n"
                    "stop = _child_setup(logging.INFO, reader, os.getppid())",
}


@pytest.mark.parametrize("who", sorted(SETUPS))
def test_a_sigterm_while_the_stop_lock_is_held_still_stops(who: str) -> None:
    """Hold the event's lock as wait() does, signal, let the handler run: the stop must come."""
    code = "import os, signal\n" + SETUPS[who] + "\n" + textwrap.dedent("""
        with stop._cond:  # as inside stop.wait(): the handler runs while this is held
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(100_000):
                pass
        assert stop.wait(20), "no stop"
        print("stopped")
    """)
    try:
        done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                              check=False, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{who}: the SIGTERM handler deadlocked on the stop event's lock")
    assert done.stdout.strip() == "stopped", done.stderr[-2000:]
