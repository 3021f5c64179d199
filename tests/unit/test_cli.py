"""The command line: the contract's subcommands, argument checks, check-config output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from patrolwatch.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[2]
CONTRACT_COMMANDS = {"demo", "ingest", "dashboard", "simulate", "device", "check-config", "user",
                     "bench", "mqtt-credentials"}


def test_every_contract_subcommand_exists() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert set(sub.choices) >= CONTRACT_COMMANDS  # type: ignore[arg-type]


@pytest.mark.parametrize("argv", [
    ["simulate", "--units", "0"], ["simulate", "--interval", "-1"], ["demo", "--port", "70000"],
    ["device", "U1", "listen", "--count", "0"], ["bench", "nothing"],
])
def test_bad_arguments_are_refused_with_usage(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(argv)
    assert exc.value.code == 2


def _run(args: list[str], env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "patrolwatch", *args], env=env, input=stdin,
                          capture_output=True, text=True, cwd=ROOT, timeout=60, check=False)


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    import os

    base = {k: v for k, v in os.environ.items() if not k.startswith("PATROL_")}
    return {**base, "PATROL_HOTSPOTS": str(ROOT / "config/hotspots.geojson"),
            "PATROL_UNITS": str(ROOT / "config/units.yaml"),
            "PATROL_USERS": str(tmp_path / "users.yaml"), **extra}


def test_check_config_passes_on_the_shipped_files(tmp_path: Path) -> None:
    done = _run(["check-config"], _env(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "configuration OK" in done.stdout


def test_check_config_names_file_feature_and_reason(tmp_path: Path) -> None:
    bad = tmp_path / "hotspots.geojson"
    features = json.loads((ROOT / "config/hotspots.geojson").read_text())
    features["features"][0]["properties"]["priority"] = 7
    features["features"][1]["properties"]["category"] = "pub"
    bad.write_text(json.dumps(features))
    roster = tmp_path / "units.yaml"
    roster.write_text("units:\n  - {id: 'bad id', callsign: X, team: T}\n")
    done = _run(["check-config"], _env(tmp_path, PATROL_HOTSPOTS=str(bad),
                                       PATROL_UNITS=str(roster)))
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    first = features["features"][0]["properties"]["id"]
    second = features["features"][1]["properties"]["id"]
    assert any(line.startswith(f"{bad}:{first}: ") and "priority" in line for line in lines)
    assert any(line.startswith(f"{bad}:{second}: ") and "category" in line for line in lines)
    assert any(line.startswith(f"{roster}:bad id: ") for line in lines)


def test_user_add_stores_a_hash_never_the_password(tmp_path: Path) -> None:
    env = _env(tmp_path)
    done = _run(["user", "add", "sgt-jones", "--role", "supervisor"], env, "correct horse 42\n")
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "users.yaml").read_text()
    assert "sgt-jones" in text and "correct horse" not in text and "$2" in text
    short = _run(["user", "add", "pc-x", "--role", "viewer"], env, "short\n")
    assert short.returncode != 0 and "at least 8" in short.stderr


def test_a_bad_setting_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATROL_TZ", "Mars/Olympus")
    assert main(["check-config"]) == 2
    assert "PATROL_TZ" in capsys.readouterr().err
