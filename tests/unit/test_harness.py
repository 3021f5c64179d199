"""The test harness itself: no silent skips under CI, a loud amqtt fallback, config errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import tests.conftest as harness
from patrolwatch.servers import SHIPPED_CONF, shipped_mosquitto_conf

ROOT = Path(__file__).resolve().parents[2]


def test_a_missing_shipped_mosquitto_config_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "mosquitto.conf"
    with pytest.raises(FileNotFoundError, match=str(missing)):
        shipped_mosquitto_conf(missing)


def test_the_shipped_config_keeps_its_limits_and_drops_host_lines() -> None:
    conf = shipped_mosquitto_conf()
    assert SHIPPED_CONF.exists()
    assert "max_queued_messages 200000" in conf and "max_inflight_messages 1000" in conf
    assert not any(line.split()[0] in ("listener", "password_file", "acl_file")
                   for line in conf.splitlines())


def _run_skipping_test(tmp_path: Path, ci: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_skips.py").write_text(
        "import pytest\n\ndef test_needs_a_tool():\n    pytest.skip('the tool is missing')\n")
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    env = {**os.environ, "CI": ci, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.conftest", "-q",
         "-p", "no:cacheprovider", "--rootdir", str(tmp_path), "-c", str(tmp_path / "pytest.ini"),
         str(tmp_path / "test_skips.py")],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)


def test_under_ci_a_skip_is_a_failure(tmp_path: Path) -> None:
    result = _run_skipping_test(tmp_path, "true")
    assert result.returncode == 1, result.stdout
    assert "CI=true: nothing may skip" in result.stdout and "the tool is missing" in result.stdout


def test_outside_ci_a_skip_stays_a_skip(tmp_path: Path) -> None:
    result = _run_skipping_test(tmp_path, "")
    assert result.returncode == 0, result.stdout
    assert "1 skipped" in result.stdout


class Reporter:
    """Collects what the terminal summary writes."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def section(self, title: str, **_: Any) -> None:
        self.lines.append(f"== {title}")

    def line(self, text: str, **_: Any) -> None:
        self.lines.append(text)


def test_the_amqtt_fallback_says_so_once_with_how_to_install_mosquitto(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(harness, "_fallbacks", [])
    monkeypatch.setattr(harness, "mosquitto_binary", lambda: None)
    monkeypatch.setattr(harness, "IN_CI", False)
    quiet = Reporter()
    harness.pytest_terminal_summary(quiet)
    assert quiet.lines == []
    servers = [harness.mqtt_broker(tmp_path / str(n)) for n in range(2)
               if (tmp_path / str(n)).mkdir() is None]
    try:
        assert all("amqtt" in s.argv[0] for s in servers)
    finally:
        for s in servers:
            s.terminate()
    told = Reporter()
    harness.pytest_terminal_summary(told)
    warnings = [line for line in told.lines if line.startswith("WARNING")]
    assert len(warnings) == 1 and "2 brokers" in warnings[0]
    assert "apt-get install mosquitto" in warnings[0]
