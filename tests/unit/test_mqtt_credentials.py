"""`patrolwatch mqtt-credentials` and PATROL_MQTT_PASSWORD_FILE, without a broker.

Reruns keep the passwords devices already hold; files go to the users that read them;
services find their password in credentials.txt instead of in the URL.
"""

from __future__ import annotations

import base64
import io
import os
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from patrolwatch.cli import main
from patrolwatch.mqtt import BrokerAddress, read_passwords, url_with_password
from patrolwatch.mqtt_credentials import (
    PBKDF2_ITERATIONS,
    mosquitto_hash,
    service_accounts,
    write_credentials,
)
from patrolwatch.roster import Roster, RosterUnit
from patrolwatch.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SERVICES = [a.name for a in service_accounts(Settings())]


def roster(*units: str, owntracks: dict[str, str] | None = None) -> Roster:
    entries = {u: RosterUnit(id=u, callsign=u, team="Test") for u in units}
    for pair, unit in (owntracks or {}).items():
        entries[unit] = RosterUnit(id=unit, callsign=unit, team="Test", owntracks=pair)
    return Roster(entries, dict(owntracks or {}))


def plain(folder: Path) -> dict[str, str]:
    return read_passwords((folder / "credentials.txt").read_text().splitlines())


def hashes(folder: Path) -> dict[str, str]:
    lines = (folder / "passwd").read_text().splitlines()
    return dict(line.split(":", 1) for line in lines)


def verifies(hashed: str, password: str) -> bool:
    _, seven, rounds, salt, _ = hashed.split("$")
    assert (seven, rounds) == ("7", str(PBKDF2_ITERATIONS))
    return mosquitto_hash(password, base64.b64decode(salt)) == hashed


# -- credentials.txt lines -------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "expected"), [
    ("UA secret\nUB other\n", {"UA": "secret", "UB": "other"}),
    ("# a comment\n\n   \nUA secret\n", {"UA": "secret"}),
    ("UA  pass word with spaces  \n", {"UA": "pass word with spaces"}),
    ("UA #not-a-comment\n", {"UA": "#not-a-comment"}),
])
def test_password_lines_are_read(text: str, expected: dict[str, str]) -> None:
    assert read_passwords(text.splitlines()) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("UA secret\nUB\n", "line 2: expected 'name password', got only 'UB'"),
    ("UA secret\nUA again\n", "line 2: 'UA' already has a password on line 1"),
])
def test_bad_password_lines_name_the_line(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        read_passwords(text.splitlines())


# -- reruns ----------------------------------------------------------------------------------------
def test_a_first_run_generates_a_password_for_every_user(tmp_path: Path) -> None:
    done = write_credentials(Settings(), tmp_path, roster=roster("UA", "UB"))
    passwords = plain(tmp_path)
    assert list(passwords) == [*SERVICES, "UA", "UB"]
    assert done.generated == tuple(passwords) and not done.kept and not done.dropped
    assert len(set(passwords.values())) == len(passwords)  # no two users share one
    assert all(len(pw) >= 20 for pw in passwords.values())
    stored = hashes(tmp_path)
    assert all(verifies(stored[name], pw) for name, pw in passwords.items())


def test_a_rerun_keeps_passwords_adds_new_units_and_drops_removed_ones(tmp_path: Path) -> None:
    write_credentials(Settings(), tmp_path, roster=roster("UA", "UB"))
    before = plain(tmp_path)
    done = write_credentials(Settings(), tmp_path,
                             roster=roster("UA", "UC", owntracks={"olga/phone": "OT1"}))
    after = plain(tmp_path)
    assert set(after) == {*SERVICES, "UA", "UC", "OT1", "olga"}
    for name in (*SERVICES, "UA"):
        assert after[name] == before[name]  # devices already provisioned keep working
    assert set(done.kept) == {*SERVICES, "UA"}
    assert set(done.generated) == {"UC", "OT1", "olga"}
    assert done.dropped == ("UB",)
    stored = hashes(tmp_path)
    assert "UB" not in stored
    assert all(verifies(stored[name], pw) for name, pw in after.items())
    acl = (tmp_path / "acl").read_text()
    assert "user UC\n" in acl and "user UB\n" not in acl
    assert "topic write owntracks/olga/phone\n" in acl


def test_a_password_edited_in_credentials_txt_is_used_on_the_next_run(tmp_path: Path) -> None:
    write_credentials(Settings(), tmp_path, roster=roster("UA", "UB"))
    path = tmp_path / "credentials.txt"
    old = plain(tmp_path)
    path.write_text(path.read_text().replace(f"UA {old['UA']}\n", "UA rotated secret\n"))
    write_credentials(Settings(), tmp_path, roster=roster("UA", "UB"))
    assert plain(tmp_path)["UA"] == "rotated secret"
    assert verifies(hashes(tmp_path)["UA"], "rotated secret")
    assert plain(tmp_path)["UB"] == old["UB"]


def test_passwords_given_on_stdin_override_kept_ones(tmp_path: Path) -> None:
    write_credentials(Settings(), tmp_path, roster=roster("UA", "UB"))
    old = plain(tmp_path)
    done = write_credentials(Settings(), tmp_path, given={"UB": "from stdin"},
                             roster=roster("UA", "UB"))
    assert plain(tmp_path)["UB"] == "from stdin" and plain(tmp_path)["UA"] == old["UA"]
    assert done.given == ("UB",) and "UB" not in done.kept


def test_a_password_for_a_user_nobody_has_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'UX', which are neither"):
        write_credentials(Settings(), tmp_path, given={"UX": "pw"}, roster=roster("UA"))
    assert not list(tmp_path.iterdir())


def test_a_broken_credentials_file_stops_the_run_before_anything_is_replaced(
        tmp_path: Path) -> None:
    write_credentials(Settings(), tmp_path, roster=roster("UA"))
    passwd = (tmp_path / "passwd").read_text()
    (tmp_path / "credentials.txt").write_text("UA one\nUA two\n")
    with pytest.raises(ValueError, match=r"credentials\.txt:line 2: 'UA' already has"):
        write_credentials(Settings(), tmp_path, roster=roster("UA"))
    assert (tmp_path / "passwd").read_text() == passwd  # no device was locked out


# -- who owns the files ----------------------------------------------------------------------------
def mode_and_owner(path: Path) -> tuple[int, int, int]:
    st_ = path.stat()
    return stat.S_IMODE(st_.st_mode), st_.st_uid, st_.st_gid


def test_files_are_owner_only_and_given_to_the_uids_asked_for(tmp_path: Path) -> None:
    me = os.geteuid()
    done = write_credentials(Settings(), tmp_path, roster=roster("UA"), broker_uid=me,
                             secrets_uid=me)
    for path in done.paths:
        mode, uid, _ = mode_and_owner(path)
        assert (mode, uid) == (0o600, me)
    assert [n.split(" (")[0] for n in done.notes] == [
        f"wrote {tmp_path / 'credentials.txt'}", f"wrote {tmp_path / 'passwd'}",
        f"wrote {tmp_path / 'acl'}"]
    assert all(f"(owner {me}:" in n and "mode 0600)" in n for n in done.notes)
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind


def test_without_root_the_uids_are_not_applied_and_the_note_says_what_to_do(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = os.stat(tmp_path).st_uid
    monkeypatch.setattr(os, "geteuid", lambda: 4242)  # any user but root
    done = write_credentials(Settings(), tmp_path, roster=roster("UA"), broker_uid=1883,
                             secrets_uid=10001)
    assert all(mode_and_owner(p)[:2] == (0o600, real) for p in done.paths)
    secrets_note, passwd_note, _ = done.notes
    assert "--secrets-uid 10001 not applied: only root can give files away" in secrets_note
    assert f"sudo chown 1883:1883 {tmp_path / 'passwd'}" in passwd_note


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give files to other users")
def test_as_root_the_broker_and_the_services_each_get_their_files(tmp_path: Path) -> None:
    done = write_credentials(Settings(), tmp_path, roster=roster("UA"), broker_uid=1883,
                             secrets_uid=10001)
    owners = {p.name: mode_and_owner(p) for p in done.paths}
    assert owners == {"passwd": (0o600, 1883, 1883), "acl": (0o600, 1883, 1883),
                      "credentials.txt": (0o600, 10001, 10001)}
    # A rerun by hand without the options keeps the owners the first run gave the files.
    write_credentials(Settings(), tmp_path, roster=roster("UA", "UB"))
    assert {p.name: mode_and_owner(p) for p in done.paths} == owners


def test_a_negative_uid_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="--broker-uid must be a user id"):
        write_credentials(Settings(), tmp_path, roster=roster("UA"), broker_uid=-1)


# -- the command -----------------------------------------------------------------------------------
@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [k for k in os.environ if k.startswith("PATROL_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("PATROL_UNITS", str(ROOT / "config" / "units.yaml"))


@pytest.mark.usefixtures("cli_env")
def test_the_command_says_what_it_kept_and_added(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    me = str(os.geteuid())
    argv = ["mqtt-credentials", "--out", str(tmp_path), "--broker-uid", me, "--secrets-uid", me]
    assert main(argv) == 0
    first = capsys.readouterr().out
    total = len(plain(tmp_path))
    assert f"{total} broker users: 0 passwords kept, {total} new, 0 from stdin" in first
    assert f"wrote {tmp_path / 'passwd'} (owner {me}:" in first
    assert main(argv) == 0
    assert f"{total} broker users: {total} passwords kept, 0 new" in capsys.readouterr().out


@pytest.mark.usefixtures("cli_env")
def test_the_command_reads_passwords_from_stdin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("CW-402 handed-out\n"))
    assert main(["mqtt-credentials", "--out", str(tmp_path), "--password-stdin"]) == 0
    assert plain(tmp_path)["CW-402"] == "handed-out"
    monkeypatch.setattr("sys.stdin", io.StringIO("CW-402\n"))
    assert main(["mqtt-credentials", "--out", str(tmp_path), "--password-stdin"]) == 1
    assert "stdin: line 1: expected 'name password'" in capsys.readouterr().err


# -- PATROL_MQTT_PASSWORD_FILE ---------------------------------------------------------------------
def credentials_file(folder: Path, text: str) -> Path:
    path = folder / "credentials.txt"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(("url", "expected"), [
    ("mqtt://patrolwatch-ingest@mosquitto:1883",
     "mqtt://patrolwatch-ingest:s3cret@mosquitto:1883"),
    ("mqtts://patrolwatch-ingest@broker.example:8883",
     "mqtts://patrolwatch-ingest:s3cret@broker.example:8883"),
    ("mqtt://patrolwatch-ingest@[::1]:1883", "mqtt://patrolwatch-ingest:s3cret@[::1]:1883"),
    ("mqtt://patrolwatch-ingest:given@mosquitto:1883",  # a password in the URL wins
     "mqtt://patrolwatch-ingest:given@mosquitto:1883"),
    ("mqtt://mosquitto:1883", "mqtt://mosquitto:1883"),  # no user: anonymous, file unused
])
def test_the_password_of_the_urls_user_is_put_into_the_url(tmp_path: Path, url: str,
                                                           expected: str) -> None:
    path = credentials_file(tmp_path, "# comment\nUA other\npatrolwatch-ingest s3cret\n")
    assert Settings(mqtt_url=url, mqtt_password_file=path).mqtt_url == expected


def test_without_a_password_file_the_url_is_used_as_given() -> None:
    url = "mqtt://patrolwatch-ingest@mosquitto:1883"
    assert Settings(mqtt_url=url, mqtt_password_file=None).mqtt_url == url


@given(password=st.text(st.characters(exclude_categories=("Cs", "Cc", "Zl", "Zp")),
                        min_size=1, max_size=40).map(str.strip).filter(bool))
def test_any_password_survives_the_url(tmp_path_factory: pytest.TempPathFactory,
                                       password: str) -> None:
    path = credentials_file(tmp_path_factory.mktemp("pw"), f"CW-402 {password}\n")
    url = Settings(mqtt_url="mqtt://CW-402@host:1884", mqtt_password_file=path).mqtt_url
    address = BrokerAddress.from_url(url)
    assert (address.username, address.password) == ("CW-402", password)
    assert (address.host, address.port) == ("host", 1884)


def test_a_user_missing_from_the_file_is_a_settings_error(tmp_path: Path) -> None:
    path = credentials_file(tmp_path, "UA secret\n")
    with pytest.raises(ValidationError) as exc:
        Settings(mqtt_url="mqtt://patrolwatch-dashboard@mosquitto:1883", mqtt_password_file=path)
    assert (f"PATROL_MQTT_PASSWORD_FILE {path} has no line for MQTT user "
            "'patrolwatch-dashboard'") in str(exc.value)


def test_a_missing_file_is_a_settings_error(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "credentials.txt"
    with pytest.raises(ValidationError) as exc:
        Settings(mqtt_url="mqtt://patrolwatch-ingest@mosquitto:1883", mqtt_password_file=path)
    assert (f"PATROL_MQTT_PASSWORD_FILE {path} does not exist, so there is no password for "
            "MQTT user 'patrolwatch-ingest'") in str(exc.value)


def test_a_broken_file_is_a_settings_error_naming_file_and_line(tmp_path: Path) -> None:
    path = credentials_file(tmp_path, "UA secret\nUA\n")
    with pytest.raises(ValidationError, match=r"credentials\.txt:line 2: expected"):
        Settings(mqtt_url="mqtt://UA@mosquitto:1883", mqtt_password_file=path)


def test_the_environment_variable_is_read(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    path = credentials_file(tmp_path, "patrolwatch-simulator p/w@x\n")
    monkeypatch.setenv("PATROL_MQTT_URL", "mqtt://patrolwatch-simulator@mosquitto:1883")
    monkeypatch.setenv("PATROL_MQTT_PASSWORD_FILE", str(path))
    assert BrokerAddress.from_url(Settings().mqtt_url).password == "p/w@x"
    assert url_with_password(Settings().mqtt_url, path) == Settings().mqtt_url  # once only
