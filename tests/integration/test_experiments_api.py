"""The experiment routes over HTTP with real Redis: roles, the access log, CSV and JSON,
bad dates, and the CLI's allocate (frozen days refused) and report against the same store."""

from __future__ import annotations

import base64
import csv
import io
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from dashboard.app import create_app
from patrolwatch.cli import main
from patrolwatch.config_check import check_config
from patrolwatch.core.hotspots import CoverageDefaults, load_hotspots
from patrolwatch.core.model import Position
from patrolwatch.experiments.allocation import allocate
from patrolwatch.experiments.design import load_experiment
from patrolwatch.experiments.panel import CSV_COLUMNS
from patrolwatch.roster import load_roster
from patrolwatch.settings import Settings
from patrolwatch.store import Batch, Store
from patrolwatch.store.experiments import ExperimentStore
from patrolwatch.users import User, hash_password, save_users
from tests.integration.test_experiments import CENTRES, at_local, write_config

pytestmark = pytest.mark.integration
PASSWORD = "correct horse battery"


def basic(name: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{name}:{PASSWORD}".encode()).decode()}


@pytest.fixture
def world(redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
          ) -> Iterator[dict[str, Any]]:
    users = tmp_path / "users.yaml"
    save_users(users, {n: User(n, r, hash_password(PASSWORD, rounds=4), None) for n, r in (
        ("sgt", "supervisor"), ("viewer", "viewer"), ("root", "admin"))})
    zone = Settings().zone
    today = datetime.now(zone).date()
    paths = write_config(tmp_path, today - timedelta(days=1), today + timedelta(days=3))
    env = {"PATROL_REDIS_URL": redis_url, "PATROL_USERS": str(users),
           "PATROL_HOTSPOTS": str(paths["hotspots"]), "PATROL_UNITS": str(paths["units"]),
           "PATROL_EXPERIMENT": str(paths["experiment"]),
           "PATROL_ARCHIVE": str(tmp_path / "archive")}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    settings = Settings()
    store = Store.from_url(redis_url)
    hotspots = load_hotspots(settings.hotspots, CoverageDefaults(), settings.zone)
    exp = load_experiment(paths["experiment"])
    yesterday = today - timedelta(days=1)
    ten = at_local(yesterday, 10, 0, zone)
    t0 = allocate(exp, yesterday).treatment[0]
    store.write_batch(Batch(positions=[Position("U1", ten + i * 60.0, *CENTRES[t0], acc=5.0)
                                       for i in range(16)]))
    app = create_app(settings, store, load_roster(settings.units), hotspots)
    yield {"http": app.server.test_client(), "store": store, "exp": exp, "today": today,
           "yesterday": yesterday, "t0": t0, "paths": paths, "settings": settings}
    app.server.extensions["patrolwatch"].publisher.close()


def test_allocation_route_for_every_map_role(world: dict[str, Any]) -> None:
    http, exp, today = world["http"], world["exp"], world["today"]
    for who in ("viewer", "sgt", "root"):
        r = http.get(f"/api/experiments/trial/allocation?date={today}", headers=basic(who))
        assert r.status_code == 200, r.get_json()
        body = r.get_json()
        want = allocate(exp, today)
        assert body == {"experiment": "trial", "date": today.isoformat(), "frozen": False,
                        "digest": exp.digest(), "treatment": list(want.treatment),
                        "control": list(want.control)}
    assert http.get("/api/experiments/trial/allocation").status_code == 401
    assert http.get("/api/experiments/nope/allocation", headers=basic("viewer")
                    ).status_code == 404
    for bad in ("yesterday", "2020-01-01", "2026-13-01"):
        r = http.get(f"/api/experiments/trial/allocation?date={bad}", headers=basic("viewer"))
        assert r.status_code == 400 and r.get_json()["error"]


def test_panel_route_csv_json_roles_and_access_log(world: dict[str, Any]) -> None:
    http, store = world["http"], world["store"]
    d = world["yesterday"].isoformat()
    url = f"/api/experiments/trial/panel?since={d}&until={d}"
    assert http.get(url, headers=basic("viewer")).status_code == 403
    before = len(store.access_log())
    r = http.get(url + "&format=csv", headers=basic("sgt"))
    assert r.status_code == 200 and r.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(r.get_data(as_text=True))))
    assert tuple(rows[0]) == CSV_COLUMNS and len(rows) == 4
    mine = next(row for row in rows if row["hotspot"] == world["t0"])
    assert (mine["arm"], mine["visits"], mine["qualifying_visits"], mine["patrol_minutes"]) == (
        "treatment", "1", "1", "15.0")
    log = store.access_log()
    assert len(log) == before + 1 and log[0]["what"] == "experiment_panel"
    assert log[0]["user"] == "sgt" and log[0]["since"] == d
    r = http.get(url, headers=basic("root"))
    body = r.get_json()
    assert r.status_code == 200 and len(body["rows"]) == 4
    assert {"first_visit", "last_visit", "mostly_unobserved"} <= set(body["rows"][0])
    for bad in ("&format=xml", "&since=2026-02-30", f"&until={d}&since=2999-01-01",
                "&until=2001-01-01"):
        r = http.get(f"/api/experiments/trial/panel?{bad[1:]}", headers=basic("sgt"))
        assert r.status_code == 400, bad


def test_cli_allocate_freezes_refuses_changes_and_report_writes_files(
        world: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    today, exp, store = world["today"], world["exp"], world["store"]
    assert main(["experiment", "allocate"]) == 0
    out = capsys.readouterr().out
    assert "allocated now" in out and exp.digest() in out
    stored = ExperimentStore(store).day("trial", today)
    assert stored is not None and stored.treatment == allocate(exp, today).treatment
    assert main(["experiment", "allocate"]) == 0
    assert "already allocated" in capsys.readouterr().out
    # The file changes after today's window started (10:00 local): refused, and said so.
    path = world["paths"]["experiment"]
    data = yaml.safe_load(path.read_text())
    data["seed"] = 8
    path.write_text(yaml.safe_dump(data))
    frozen = stored.frozen(datetime.now().timestamp())
    code = main(["experiment", "allocate"])
    err = capsys.readouterr().err
    if frozen:
        assert code == 1 and "refused" in err and "frozen" in err
        assert ExperimentStore(store).day("trial", today) == stored
    else:  # before 10:00 local the day is not frozen yet: the new design replaces it
        assert code == 0
    # A later day takes the new design.
    assert main(["experiment", "allocate", "--date", str(today + timedelta(days=2))]) == 0
    capsys.readouterr()
    out_dir = tmp_path / "report"
    assert main(["experiment", "report", "--out", str(out_dir)]) == 0
    text = (out_dir / "trial-panel.csv").read_text()
    assert text.splitlines()[0] == ",".join(CSV_COLUMNS)
    assert "Balance of the pool" in (out_dir / "trial-summary.html").read_text()
    assert store.access_log()[0]["what"] == "experiment_panel"
    assert main(["experiment", "allocate", "--date", "2001-01-01"]) == 1


def test_check_config_names_experiment_problems(world: dict[str, Any]) -> None:
    path = world["paths"]["experiment"]
    data = yaml.safe_load(path.read_text())
    data["pool"] = [*data["pool"], "nowhere"]
    data["per_day"] = 9
    path.write_text(yaml.safe_dump(data))
    problems = check_config(Settings())
    assert f"{path}:pool: unknown hotspot 'nowhere': not in the hotspot file" in problems
    assert any(p.startswith(f"{path}:per_day: 9 is more than") for p in problems)


def test_a_frozen_day_in_redis_cannot_change_and_each_store_is_audited(
        world: dict[str, Any]) -> None:
    from patrolwatch.experiments.allocation import FrozenDayError, day_bounds
    from patrolwatch.experiments.service import settle_day

    store, exp, zone = world["store"], world["exp"], world["settings"].zone
    day = world["today"] + timedelta(days=1)
    start = day_bounds(exp, day, zone)[0]
    first, stored = settle_day(exp, day, store, zone, start - 600, "test")
    assert stored and not first.frozen(start - 1) and first.frozen(start)
    changed = exp.model_copy(update={"seed": exp.seed + 1})
    replaced, stored = settle_day(changed, day, store, zone, start - 60, "test")  # not started
    assert stored and replaced.digest == changed.digest()
    with pytest.raises(FrozenDayError, match="frozen"):
        settle_day(exp, day, store, zone, start + 1, "test")
    assert ExperimentStore(store).day("trial", day) == replaced
    audit = [e for e in store.audit_log(50) if e.get("kind") == "experiment_allocation"
             and e["date"] == day.isoformat()]
    assert [e["digest"] for e in audit] == [changed.digest(), exp.digest()]  # newest first
    assert audit[0]["replaced"] == exp.digest() and audit[0]["allocated_at"] == start - 60


def test_ingest_stores_finished_days_so_the_panel_outlives_raw_positions(
        world: dict[str, Any]) -> None:
    from ingest.experiment import finalise_days

    store, exp, settings = world["store"], world["exp"], world["settings"]
    hotspots = load_hotspots(settings.hotspots, CoverageDefaults(), settings.zone)
    now = datetime.now().timestamp()
    assert finalise_days(exp, settings, store, hotspots, now) == [world["yesterday"]]
    assert finalise_days(exp, settings, store, hotspots, now) == []  # once
    doses = ExperimentStore(store).doses("trial")[world["yesterday"]]
    assert doses["digest"] == exp.digest()
    assert doses["doses"][world["t0"]]["qualifying_visits"] == 1
    # The raw positions go; the panel still answers from the stored measures.
    store.r.flushdb()
    ExperimentStore(store).save_doses("trial", world["yesterday"], doses["digest"],
                                      doses["doses"])
    d = world["yesterday"].isoformat()
    r = world["http"].get(f"/api/experiments/trial/panel?since={d}&until={d}&format=csv",
                          headers=basic("sgt"))
    got = {row["hotspot"]: row for row in csv.DictReader(io.StringIO(r.get_data(as_text=True)))}
    assert r.status_code == 200 and got[world["t0"]]["qualifying_visits"] == "1"


def test_the_ingest_loop_keeps_a_frozen_day_says_so_once_and_tells_phones_once(
        world: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    from ingest.experiment import experiment_pass
    from patrolwatch.experiments.allocation import day_bounds

    store, exp, settings = world["store"], world["exp"], world["settings"]
    hotspots = load_hotspots(settings.hotspots, CoverageDefaults(), settings.zone)
    roster = load_roster(settings.units)
    today = world["today"]
    now = day_bounds(exp, today, settings.zone)[0] + 60  # today's window has started
    sent: list[tuple[str, str]] = []
    assert experiment_pass(exp, settings, store, hotspots, roster,
                           lambda t, p: sent.append((t, p)), now) == 1
    assert [t for t, _ in sent] == ["owntracks/alice/phone/cmd"]
    assert experiment_pass(exp, settings, store, hotspots, roster,
                           lambda t, p: sent.append((t, p)), now + 30) == 0  # nothing new
    frozen = ExperimentStore(store).day("trial", today)
    changed = exp.model_copy(update={"seed": exp.seed + 1})
    refused: set[str] = set()
    for k in range(3):
        experiment_pass(changed, settings, store, hotspots, roster,
                        lambda t, p: sent.append((t, p)), now + 60 * k, refused)
    assert ExperimentStore(store).day("trial", today) == frozen
    said = [r for r in caplog.records if "is frozen" in r.getMessage()]
    assert len(said) == 1 and len(sent) == 1


def test_report_with_a_crimes_file_counts_events_and_labels_the_outcome_aid(
        world: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = world["paths"]["experiment"]
    lat, lon = CENTRES[world["t0"]]
    noon = f"{world['yesterday'].isoformat()}T12:00:00"
    (path.parent / "crimes.csv").write_text(
        "time,lat,lon,category,harm\n"
        f"{noon},{lat},{lon},robbery,365\n"
        f"{noon},{lat + 0.0012 + 0.0004},{lon},theft,20\n")  # ~45 m outside: in the ring
    data = yaml.safe_load(path.read_text())
    data["crimes"] = "crimes.csv"
    path.write_text(yaml.safe_dump(data))
    d = world["yesterday"].isoformat()
    assert main(["experiment", "report", "--since", d, "--until", d,
                 "--out", str(tmp_path / "r")]) == 0
    capsys.readouterr()
    rows = {r["hotspot"]: r for r in csv.DictReader(
        (tmp_path / "r" / "trial-panel.csv").read_text().splitlines())}
    mine = rows[world["t0"]]
    assert (mine["events"], mine["harm"], mine["buffer_events"], mine["buffer_harm"]) == (
        "1", "365", "1", "20")
    assert {r["events"] for h, r in rows.items() if h != world["t0"]} == {"0"}
    html = (tmp_path / "r" / "trial-summary.html").read_text()
    assert "outcomes (an analysis aid, not a finding)" in html
