"""Broker logins: one per connection, and no roster entry may share another holder's login."""

from __future__ import annotations

from pathlib import Path

import pytest

from patrolwatch.cli import main
from patrolwatch.config_check import check_config
from patrolwatch.mqtt_credentials import service_accounts, write_credentials
from patrolwatch.mqtt_logins import dashboard_logins, ingest_logins, login_problems
from patrolwatch.roster import Roster, RosterUnit, load_roster
from patrolwatch.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
WHERE = Path("config/units.yaml")


def roster(units: dict[str, str | None]) -> Roster:
    """Build a roster from ``{unit id: owntracks user/device or None}``."""
    entries = {u: RosterUnit(id=u, callsign=u, team="Test", owntracks=ot)
               for u, ot in units.items()}
    return Roster(entries, {ot: u for u, ot in units.items() if ot})


def write_roster(path: Path, units: dict[str, str | None]) -> Path:
    lines = ["units:"]
    for unit, ot in units.items():
        extra = f", owntracks: {ot}" if ot else ""
        lines.append(f"  - {{id: {unit}, callsign: {unit}, team: Test, kind: foot{extra}}}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_each_service_process_has_a_login_of_its_own() -> None:
    settings = Settings(ingest_workers=3, dashboard_workers=2)
    assert ingest_logins(settings) == [f"patrolwatch-ingest-{n}" for n in (1, 2, 3)]
    assert dashboard_logins(settings) == ["patrolwatch-dashboard-1", "patrolwatch-dashboard-2"]
    names = [a.name for a in service_accounts(settings)]
    assert names == [*ingest_logins(settings), *dashboard_logins(settings),
                     "patrolwatch-simulator", "patrolwatch-tetra-gateway"]
    assert len(set(names)) == len(names)


def test_the_shipped_roster_has_no_shared_login() -> None:
    assert login_problems(load_roster(ROOT / "config" / "units.yaml"), WHERE) == []


@pytest.mark.parametrize(("units", "name", "says"), [
    # An OwnTracks user named like a unit: the phone would get the unit's password and id.
    ({"cw402": None, "CW-402": "cw402/iphone"}, "cw402",
     "unit 'cw402' and the OwnTracks user 'cw402' (cw402/iphone of unit CW-402)"),
    # Named like a service: it would get that service's password and session.
    ({"CW-402": "patrolwatch-dashboard/iphone"}, "patrolwatch-dashboard",
     "OwnTracks user 'patrolwatch-dashboard' takes a broker login kept for"),
    # A unit named like a service not written yet (PATROL_INGEST_WORKERS raised later).
    ({"patrolwatch-ingest-7": None}, "patrolwatch-ingest-7",
     "unit 'patrolwatch-ingest-7' takes a broker login kept for"),
    ({"PatrolWatch-Ingest-1": None}, "PatrolWatch-Ingest-1", "kept for PatrolWatch's services"),
    # Two phones on one user would knock each other off all day.
    ({"CW-402": "cw402/iphone", "CW-403": "cw402/ipad"}, "cw402",
     "OwnTracks user 'cw402' has 2 phones (cw402/ipad of unit CW-403, cw402/iphone of unit "
     "CW-402)"),
])
def test_a_shared_login_is_named_with_its_holders(units: dict[str, str | None], name: str,
                                                  says: str) -> None:
    problems = login_problems(roster(units), WHERE)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{WHERE}:{name}: ")
    assert says in problems[0]
    assert "rename" in problems[0] or "give each phone" in problems[0]  # what to do


def test_distinct_names_are_fine() -> None:
    units = {"CW-402": "cw402/iphone", "CW-403": None, "OT": "olga/phone"}
    assert login_problems(roster(units), WHERE) == []


def test_mqtt_credentials_refuses_a_shared_login_and_writes_nothing(tmp_path: Path) -> None:
    units = write_roster(tmp_path / "units.yaml", {"CW-402": "patrolwatch-dashboard-1/iphone"})
    out = tmp_path / "mosquitto"
    with pytest.raises(ValueError) as exc:
        write_credentials(Settings(units=units), out)
    message = str(exc.value)
    assert f"{units}:patrolwatch-dashboard-1: OwnTracks user 'patrolwatch-dashboard-1'" in message
    assert "nothing written" in message
    assert not out.exists()


def test_the_cli_says_which_file_and_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    units = write_roster(tmp_path / "units.yaml", {"ua": None, "UA": "ua/phone"})
    monkeypatch.setenv("PATROL_UNITS", str(units))
    assert main(["mqtt-credentials", "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert f"{units}:ua: unit 'ua' and the OwnTracks user 'ua'" in err
    assert not (tmp_path / "out").exists()


def test_check_config_reports_a_shared_login(tmp_path: Path) -> None:
    units = write_roster(tmp_path / "units.yaml", {"CW-402": "cw402/iphone",
                                                   "CW-403": "cw402/android"})
    problems = check_config(Settings(units=units, users=tmp_path / "none.yaml"))
    assert any(p.startswith(f"{units}:cw402: OwnTracks user 'cw402' has 2 phones")
               for p in problems), problems


@pytest.mark.parametrize("action", ["position", "listen"])
def test_a_device_command_refuses_to_act_as_another_unit(action: str) -> None:
    """Signed in as CW-401, acting as CW-402 would be dropped by the ACL without a word."""
    from patrolwatch.device import DeviceError, listen, send_position

    settings = Settings(mqtt_url="mqtt://CW-401:pw@127.0.0.1:1")  # never reached
    with pytest.raises(DeviceError, match="signs in as 'CW-401', which may act only as unit"):
        if action == "position":
            send_position(settings, "CW-402", 51.5, -0.1)
        else:
            listen(settings, "CW-402", count=1)
