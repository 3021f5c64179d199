"""Experiment regions under the shipped broker's ACL: the ingest login may send OwnTracks
commands, and a phone reads only its own command topic."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.test_mqtt_acl import _client, _drain_until, _login, secured
from tests.services import ServerProcess

pytestmark = [pytest.mark.integration, pytest.mark.mosquitto]
__all__ = ["secured"]  # the fixture, used by name


def test_ingest_sends_setwaypoints_and_a_phone_reads_only_its_own(
        secured: ServerProcess, tmp_path: Path) -> None:
    port, pw = _login(secured, tmp_path)
    phone, inbox = _client(port, "olga", pw["olga"], [("owntracks/olga/phone/cmd", 1),
                                                      ("owntracks/+/+/cmd", 1)])
    ingest, _ = _client(port, "patrolwatch-ingest-1", pw["patrolwatch-ingest-1"])
    ua, _ = _client(port, "UA", pw["UA"])
    try:
        ua.publish_and_wait("owntracks/olga/phone/cmd", b'{"_type": "cmd"}')  # not UA's to send
        ingest.publish_and_wait("owntracks/someone/else/cmd", b'{"_type": "cmd"}')
        ingest.publish_and_wait("owntracks/olga/phone/cmd",
                                b'{"_type": "cmd", "action": "setWaypoints"}')
        assert _drain_until(inbox, "owntracks/olga/phone/cmd") == ["owntracks/olga/phone/cmd"]
    finally:
        ua.stop()
        ingest.stop()
        phone.stop()
