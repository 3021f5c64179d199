"""The live picture on a real Redis: one producer builds, every dashboard process reads.

The producer runs in a child process (``patrolwatch picture``); two apps made here
with their own Store stand for two dashboard processes (they share only Redis). Builds are
counted, never timed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dashboard import ids
from dashboard.app import create_app
from dashboard.deps import Deps
from dashboard.picture import serve
from dashboard.picture.build import FLAG_LOST
from dashboard.picture.producer import PictureProducer
from patrolwatch.bench.dashboard import refresh_request
from patrolwatch.core.hotspots import CoverageDefaults, load_hotspots
from patrolwatch.core.model import Position, Status, StatusChange
from patrolwatch.roster import load_roster
from patrolwatch.settings import Settings
from patrolwatch.store import K_PICTURE_LOCK, Batch, Store
from tests.services import wait_until

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
UNITS = ["CW-401", "CW-402", "CW-403"]


def settings_for(redis_url: str) -> Settings:
    return Settings(redis_url=redis_url, units=ROOT / "config/units.yaml",  # type: ignore[arg-type]
                    hotspots=ROOT / "config/hotspots.geojson",
                    users=ROOT / "no-such-users.yaml", mqtt_url="mqtt://127.0.0.1:9",
                    open_access=True)  # the refresh is called without sign-in


def deps_for(settings: Settings) -> Deps:
    return Deps(settings=settings, store=Store.from_url(settings.redis_url),
                roster=load_roster(settings.units),
                hotspots=load_hotspots(settings.hotspots, CoverageDefaults.from_settings(settings),
                                       settings.zone))


def seed(store: Store, now: float) -> None:
    store.write_batch(Batch(
        positions=[Position(u, now - 1, 51.51 + i / 100, -0.12, acc=5.0)
                   for i, u in enumerate(UNITS)],
        statuses=[StatusChange("CW-403", now - 1, Status.EMERGENCY)]), now=now)


@pytest.fixture
def producer_process(redis_url: str) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``patrolwatch picture`` (the producer alone) until the test ends; it stops cleanly."""
    env = {**os.environ, "PATROL_REDIS_URL": redis_url,
           "PATROL_UNITS": str(ROOT / "config/units.yaml"),
           "PATROL_HOTSPOTS": str(ROOT / "config/hotspots.geojson")}
    proc = subprocess.Popen([sys.executable, "-m", "patrolwatch", "picture"], cwd=ROOT, env=env)
    yield proc
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0
    assert Store.from_url(redis_url).picture_holder() is None, "it gave the lock back"


class Screen:
    """One browser tab of one dashboard app, driven through the Flask test client."""

    def __init__(self, app: Any) -> None:
        self.app, self.http = app, app.server.test_client()
        self.have: int | None = None
        self.digests: dict[str, Any] = {}

    def refresh(self) -> dict[str, Any]:
        body = refresh_request(self.app, self.have, self.digests)
        answer = self.http.post("/_dash-update-component", json=body).get_json()["response"]
        picture = answer.get(ids.PICTURE, {}).get("data")
        if picture:
            self.have = json.loads(picture)["v"]
        self.digests = answer[ids.DIGESTS]["data"] if ids.DIGESTS in answer else self.digests
        return answer  # type: ignore[no-any-return]

    @property
    def builds(self) -> int:
        return serve.screens_for(self.app.server, None).standby.builds  # type: ignore[arg-type]


def app_for(redis_url: str) -> Any:
    deps = deps_for(settings_for(redis_url))
    return create_app(deps.settings, deps.store, deps.roster, deps.hotspots)


def test_a_second_dashboard_process_serves_the_producers_bytes_without_building(
        redis_url: str, producer_process: subprocess.Popen[bytes]) -> None:
    store = Store.from_url(redis_url)
    seed(store, time.time())
    holder = wait_until(store.picture_holder, 30, what="the producer took the lock")
    assert f":{producer_process.pid}:" in holder
    wait_until(lambda: store.picture_fields(["live_version"])[0] == str(store.live_version())
               .encode(), 30, what="the producer built the seeded state")
    one, two = Screen(app_for(redis_url)), Screen(app_for(redis_url))
    first = one.refresh()
    stored = store.picture_fields(["units"])[0]
    assert first[ids.PICTURE]["data"].encode() == stored, "the producer's bytes, as stored"
    assert two.refresh()[ids.PICTURE]["data"].encode() == stored
    assert "EMERGENCY" in json.dumps(first[ids.EMERGENCY])

    # A move reaches both screens as a step of one unit, built by the producer alone.
    version = one.have
    store.write_batch(Batch(positions=[Position("CW-401", time.time(), 51.6, -0.2)]))
    moved = wait_until(lambda: (a := one.refresh()).get(ids.PICTURE) and a, 30,
                       what="the move reached a screen")
    steps = json.loads(moved[ids.PICTURE]["data"])["steps"]
    assert steps[0]["v"] == version + 1 and steps[-1]["u"] == [["CW-401", -0.2, 51.6, "P", 0]]
    assert json.loads(wait_until(lambda: two.refresh().get(ids.PICTURE), 30,
                                 what="the move reached the other screen")["data"])["steps"]
    assert one.builds == two.builds == 0


def test_an_unchanged_version_answers_without_rebuilding(redis_url: str) -> None:
    deps = deps_for(settings_for(redis_url))
    now = time.time()
    seed(deps.store, now)
    producer = PictureProducer(deps, min_interval_s=0.0)
    assert producer.step(now) and producer.builds == 1
    screen = Screen(app_for(redis_url))
    screen.refresh()
    version = screen.have

    # Nothing written: the producer's next look is one GET, no build; the screen gets nothing.
    assert not producer.step(now + 0.1) and producer.builds == 1
    again = screen.refresh()
    assert ids.PICTURE not in again and set(again) == {ids.CLOCK}
    # A second later it builds again (time passes) but finds the same picture: same version.
    assert producer.step(now + 1.1) and producer.builds == 2
    assert deps.store.picture_fields(["version"])[0] == str(version).encode()
    assert set(screen.refresh()) == {ids.CLOCK} and screen.builds == 0


def test_time_alone_turns_a_silent_unit_into_lost_contact(redis_url: str) -> None:
    deps = deps_for(settings_for(redis_url))
    now = time.time()
    seed(deps.store, now)
    producer = PictureProducer(deps, min_interval_s=0.0)
    producer.step(now)
    version = int(deps.store.picture_fields(["version"])[0] or 0)
    later = now + deps.settings.stale_after_s + 5
    assert producer.step(later)
    step = deps.store.picture_steps(version, version + 1)[0]
    assert step is not None
    flags = {e[0]: e[4] for e in json.loads(step)["u"]}
    assert flags and all(f & FLAG_LOST for f in flags.values()) and set(flags) == set(UNITS)


def test_one_producer_at_a_time_and_a_dashboard_stands_in_when_none_runs(
        redis_url: str) -> None:
    deps = deps_for(settings_for(redis_url))
    now = time.time()
    seed(deps.store, now)
    first, second = PictureProducer(deps), PictureProducer(deps_for(settings_for(redis_url)))
    assert first.step(now) and not second.step(now)
    assert second.builds == 0

    # No producer: the lock expires, and a screen's refresh builds once for everyone.
    deps.store.r.delete(K_PICTURE_LOCK)
    screen = Screen(app_for(redis_url))
    threads = [threading.Thread(target=screen.refresh) for _ in range(4)]
    deps.store.r.hset("pw:{pic}:now", "checked_at", repr(now - 60))  # long unconfirmed
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert screen.builds == 1, "concurrent refreshes wait for one build"
    assert screen.refresh() and screen.builds == 1
    assert deps.store.picture_holder() is None, "the stand-in gives the lock back"
    assert PictureProducer(deps).hold(time.time()), "so a producer starting now takes it"


def test_every_stored_batch_bumps_the_live_version(redis_url: str) -> None:
    store = Store.from_url(redis_url)
    assert store.live_version() == 0
    store.write_batch(Batch(positions=[Position("A", time.time(), 51.5, -0.1)]))
    store.write_batch(Batch(statuses=[StatusChange("A", time.time(), Status.AVAILABLE)]))
    store.write_batch(Batch())
    assert store.live_version() == 2


def test_a_stand_in_goes_on_with_steps_while_nobody_else_built(redis_url: str) -> None:
    deps = deps_for(settings_for(redis_url))
    now = time.time()
    seed(deps.store, now)
    screens = serve.Screens(deps)
    screens.stand_in(now)
    version = int(deps.store.picture_fields(["version"])[0] or 0)
    deps.store.write_batch(Batch(positions=[Position("CW-401", now + 1, 51.6, -0.2)]))
    screens.stand_in(now + 3)
    assert deps.store.picture_steps(version, version + 1)[0] is not None, \
        "screens get the step, not the whole layer again"
    other = PictureProducer(deps)  # another producer builds: the stand-in must not go on
    other.step(now + 4)
    deps.store.release_picture_lock(other.owner)
    deps.store.write_batch(Batch(positions=[Position("CW-402", now + 5, 51.6, -0.2)]))
    screens.stand_in(now + 6)
    latest = int(deps.store.picture_fields(["version"])[0] or 0)
    assert latest == version + 3 and deps.store.picture_steps(latest - 1, latest)[0] is None


def test_the_ingest_process_runs_the_producer_in_a_child_of_its_own(
        redis_url: str, tmp_path: Path) -> None:
    """`patrolwatch ingest` builds the picture, in a child process: never on the worker's GIL."""
    from tests.integration.ingest_process import IngestProcess, broker_server

    store = Store.from_url(redis_url)
    broker = broker_server(tmp_path)
    url = f"mqtt://127.0.0.1:{broker.port}"
    ingest = IngestProcess(url, redis_url, tmp_path / "ingest.log", evaluator=False)
    ingest.start()
    try:
        ingest.wait_storing(store)
        holder = wait_until(store.picture_holder, 60,
                            what=f"a picture producer: {ingest.log()[-2000:]}")
        assert ingest.proc is not None
        # The lock names its owner as host:pid:object: a child of ingest, not ingest itself.
        owner_pid = int(str(holder).split(":")[1])
        assert owner_pid != ingest.proc.pid, holder
    finally:
        ingest.stop()
        broker.terminate()


def test_a_batch_names_the_units_it_wrote_for_the_producer(redis_url: str) -> None:
    """Issue 20: the changed units go into a set in the same round trip as their writes."""
    from patrolwatch.core.model import Ack
    from patrolwatch.store import K_LIVE_DIRTY

    store = Store.from_url(redis_url)
    now = time.time()
    store.write_batch(Batch(positions=[Position("A", now, 51.5, -0.1)],
                            statuses=[StatusChange("B", now, Status.AVAILABLE)],
                            acks=[Ack("C", "t-1", now, True)]), now=now)
    assert {m.decode() for m in store.r.smembers(K_LIVE_DIRTY)} == {"A", "B", "C"}
    units, version = store.take_changed()
    assert sorted(units) == ["A", "B", "C"] and version == store.live_version()
    assert not store.r.exists(K_LIVE_DIRTY), "taken: the next build reads none of them again"


def test_a_build_reads_only_the_units_the_ingest_marked(redis_url: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A build costs what moved: a row written past the changed set waits for the full reread."""
    from dashboard.picture import producer as producer_module
    from patrolwatch.store import K_POS

    monkeypatch.setattr(producer_module, "FULL_EVERY_S", 30.0)  # well inside lost contact
    deps = deps_for(settings_for(redis_url))
    now = time.time()
    seed(deps.store, now)
    producer = PictureProducer(deps, min_interval_s=0.0)
    producer.step(now)
    version = int(deps.store.picture_fields(["version"])[0] or 0)
    # CW-402 changed behind the ingest's back (no mark); CW-401 moved through the ingest.
    deps.store.r.hset(K_POS, "CW-402", json.dumps({"ts": now, "lat": 51.7, "lon": -0.3}))
    deps.store.write_batch(Batch(positions=[Position("CW-401", now + 1, 51.6, -0.2)]))
    assert producer.step(now + 1.5)
    step = json.loads(deps.store.picture_steps(version, version + 1)[0] or b"{}")
    assert step["u"] == [["CW-401", -0.2, 51.6, "P", 0]] and step["d"] == []
    # The periodic full reread is the safety net for writes that bypass the set.
    assert producer.step(now + 1.5 + producer_module.FULL_EVERY_S)
    step = json.loads(deps.store.picture_steps(version + 1, version + 2)[0] or b"{}")
    assert [e[0] for e in step["u"]] == ["CW-402"]
