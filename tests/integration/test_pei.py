"""`patrolwatch pei` against a pseudo-terminal that behaves like a radio, into a real broker.

The radio answers every AT command with OK and emits unsolicited ``+CTSDSR`` reports; the
device path is a symlink (as udev's /dev/serial/by-id names are), so a dropped line is the
radio's pty closing and a new one appearing under the same name.
"""

from __future__ import annotations

import os
import queue
import select
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from patrolwatch.mqtt import Inbound, MqttClient
from tests.lip_encoder import lat_code, lon_code, short_report
from tests.services import wait_until

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


class FakeRadio:
    """A pty whose far end answers AT commands with OK and can send reports."""

    def __init__(self, link: Path) -> None:
        self.master, slave = os.openpty()
        name = os.ttyname(slave)
        os.close(slave)  # the adapter opens it by name, as it would a real device
        tmp = link.with_suffix(".new")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(name)
        tmp.replace(link)  # atomic: the adapter never sees a missing device name
        self.commands: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._answer, daemon=True)
        self._thread.start()

    def _answer(self) -> None:
        pending = b""
        while not self._stop.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if not ready:
                continue
            try:
                pending += os.read(self.master, 1024)
            except OSError:  # no one has the far end open yet (or any more)
                self._stop.wait(0.05)
                continue
            *lines, pending = pending.split(b"\r")
            for line in lines:
                text = line.strip().decode()
                if text.upper().startswith("AT"):
                    self.commands.append(text)
                    self.send("OK")

    def send(self, *lines: str) -> None:
        os.write(self.master, b"".join(b"\r\n" + line.encode() + b"\r\n" for line in lines))

    def drop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        os.close(self.master)


def report_lines(calling: str, pdu: bytes, protocol: int = 0x0A, service: int = 12) -> list[str]:
    data = bytes([protocol]) + pdu
    return [f"+CTSDSR: {service},{calling},0,1000000,0,{8 + 76}", data.hex().upper()]


@pytest.fixture
def lip_inbox(fresh_mqtt_url: str) -> Iterator[queue.SimpleQueue[Inbound]]:
    inbox: queue.SimpleQueue[Inbound] = queue.SimpleQueue()
    client = MqttClient(fresh_mqtt_url, f"lip-sub-{uuid.uuid4().hex[:8]}",
                        subscriptions=[("tetra/+/lip", 1)], on_message=inbox.put)
    assert client.start(wait_s=10)
    yield inbox
    client.stop()


def take(inbox: queue.SimpleQueue[Inbound], timeout: float = 20) -> Inbound:
    return inbox.get(timeout=timeout)


def test_pei_publishes_lip_reports_skips_garbage_and_survives_a_dropped_line(
        fresh_mqtt_url: str, lip_inbox: queue.SimpleQueue[Inbound], tmp_path: Path) -> None:
    link = tmp_path / "ttyRADIO"
    radio = FakeRadio(link)
    log_path = tmp_path / "pei.log"
    env = {**os.environ, "PATROL_MQTT_URL": fresh_mqtt_url}
    with log_path.open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "patrolwatch", "pei", "--port", str(link)],
                                env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        wait_until(lambda: "AT+CTSP=1,3,10" in radio.commands, 30,
                   what=f"the radio initialised: {log_path.read_text()}")
        assert radio.commands[:2] == ["ATE0", "AT+CTSP=1,3,10"]
        first = short_report(lon=lon_code(-0.1276), lat=lat_code(51.5072), error=1)
        radio.send("RING? not a report", "+CTSDSR: nonsense",
                   *report_lines("1002407", short_report(), protocol=0x82),  # a text SDS
                   *report_lines("1002403", first))
        got = take(lip_inbox)
        assert (got.topic, got.payload) == ("tetra/1002403/lip", first.hex().upper().encode())

        radio.drop()
        radio = FakeRadio(link)
        wait_until(lambda: "AT+CTSP=1,3,10" in radio.commands, 30,
                   what=f"the radio initialised again: {log_path.read_text()}")
        second = short_report(lon=lon_code(-0.13), lat=lat_code(51.51), extra=2)
        radio.send(*report_lines("2340000001002407", second))  # a full TSI: its SSI is last
        got = take(lip_inbox)
        assert (got.topic, got.payload) == ("tetra/1002407/lip", second.hex().upper().encode())
        assert lip_inbox.empty()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
        radio.drop()
    log = log_path.read_text()
    assert proc.returncode == 0, log
    assert "no report" in log and "cannot be read" in log and "not a LIP report" in log, log
    assert "lost the radio" in log, log
    assert "2 reports published, 3 lines skipped" in log, log
