"""`patrolwatch pei --port DEV`: a TETRA radio's PEI (ETSI EN 300 392-5) to ``tetra/{issi}/lip``.

A radio (or a control-room terminal) on a serial line answers AT commands and reports each
SDS it receives as an unsolicited ``+CTSDSR`` line followed by the user data in hex. Those
whose protocol identifier is 0x0A are Location Information Protocol PDUs (TS 100 392-18-1):
this adapter publishes each one, without that octet, as hex text to ``tetra/{issi}/lip`` of
the radio that sent it, where the ingest worker decodes it (``core.lip``). It decodes
nothing itself, so the worker counts and explains every PDU it cannot use.

What it sends the radio when the line opens, and why (EN 300 392-5, clause 6.14):

- ``ATE0``: no command echo, so every line read back is an answer or an unsolicited report;
- ``AT+CTSP=1,3,10``: register this terminal (service profile 1: route to the TE) for SDS
  type 4 (service layer 1 = 3) with protocol identifier 10 = 0x0A, LIP (service layer 2), so
  the radio hands location reports to this line instead of consuming them.

``AT+CSCS`` (character set) is not sent: it governs text, and SDS type 4 user data is always
given in hex. ``AT+CTSDS`` (parameters for SDS we send) is not sent: this adapter only listens.
A radio that answers ERROR to ``AT+CTSP`` is logged and read anyway, as some radios route LIP
to the PEI by their own programming.

The serial line is plain termios, so a pseudo-terminal works as well as a USB-serial cable.
When the line drops (the cable is pulled, the radio is switched off) it is opened again with
backoff and the radio initialised again; a line that is neither an answer nor a report is
logged and skipped. Messages are published with QoS 1 and queued by the MQTT client while
the broker is away.
"""

from __future__ import annotations

import logging
import os
import re
import select
import termios
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from patrolwatch.core.topics import lip_topic
from patrolwatch.mqtt import MqttClient, url_for_login
from patrolwatch.mqtt_logins import TETRA_GATEWAY
from patrolwatch.settings import Settings

log = logging.getLogger(__name__)

INIT_COMMANDS = ("ATE0", "AT+CTSP=1,3,10")
LIP_PROTOCOL = 0x0A
SDS_TYPE_4 = 12  # AI service of +CTSDSR for SDS type 4 (EN 300 392-5, <AI service>)
COMMAND_TIMEOUT_S = 5.0
BACKOFF_MIN_S, BACKOFF_MAX_S = 0.5, 10.0
MAX_LINE = 4096  # a longer "line" is garbage: the largest SDS is 2047 bits = 512 hex digits
BAUD_RATES = {9600: termios.B9600, 19200: termios.B19200, 38400: termios.B38400,
              57600: termios.B57600, 115200: termios.B115200}
_HEADER_RE = re.compile(r"\+CTSDSR:\s*(.*)")
_HEX_RE = re.compile(r"(?:[0-9A-Fa-f]{2})+")


class LineDropped(OSError):  # noqa: N818
    """The serial line is gone (EOF or an I/O error): reopen it."""


@dataclass(frozen=True, slots=True)
class SdsHeader:
    """The fields of a ``+CTSDSR:`` line this adapter uses."""

    ai_service: int
    calling: int  # the sender's ISSI
    length_bits: int  # of the user data, protocol identifier included


def parse_header(text: str) -> SdsHeader | None:
    """Read ``+CTSDSR: <AI service>,<calling>,<type>,<called>,<type>[,...],<length>``, or None.

    The calling identity may be a full TSI (MCC, MNC and SSI as 15+ digits); its last 8 digits
    are then the SSI. The length is the last field, whatever optional fields come between.
    """
    match = _HEADER_RE.fullmatch(text.strip())
    if match is None:
        return None
    fields = [f.strip() for f in match.group(1).split(",")]
    if len(fields) < 6 or not all(f.isdigit() for f in (fields[0], fields[1], fields[-1])):
        return None
    calling = int(fields[1][-8:])
    if calling >= 2**24 or int(fields[-1]) <= 0:
        return None
    return SdsHeader(int(fields[0]), calling, int(fields[-1]))


def lip_pdu(header: SdsHeader, data_line: str) -> bytes | None:
    """Return the LIP PDU a report carries (the user data after 0x0A), or None if not LIP."""
    text = data_line.strip()
    if header.ai_service != SDS_TYPE_4 or not _HEX_RE.fullmatch(text):
        return None
    data = bytes.fromhex(text)
    if len(data) < 2 or data[0] != LIP_PROTOCOL:
        return None
    return data[1:(header.length_bits + 7) // 8]


class SerialLine:
    """A tty opened raw at a baud rate; read lines, write commands; raise LineDropped when gone."""

    def __init__(self, port: str, baud: int) -> None:
        self.fd = os.open(port, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            attrs = termios.tcgetattr(self.fd)
            attrs[0] = termios.IGNPAR  # iflag: no CR/LF translation, no flow control
            attrs[1] = 0  # oflag: raw
            attrs[2] = termios.CS8 | termios.CREAD | termios.CLOCAL
            attrs[3] = 0  # lflag: no echo, not canonical
            attrs[4] = attrs[5] = BAUD_RATES[baud]
            termios.tcsetattr(self.fd, termios.TCSANOW, attrs)
        except (termios.error, OSError):
            os.close(self.fd)
            raise
        self._buffer = b""

    def write(self, text: str) -> None:
        try:
            os.write(self.fd, text.encode("ascii") + b"\r")
        except OSError as exc:
            raise LineDropped(f"cannot write to the radio: {exc.strerror}") from None

    def lines(self, timeout_s: float) -> Iterator[str]:
        """Yield the lines that arrive within ``timeout_s`` (none if it passes)."""
        ready, _, _ = select.select([self.fd], [], [], timeout_s)
        if not ready:
            return
        try:
            chunk = os.read(self.fd, 4096)
        except BlockingIOError:
            return
        except OSError as exc:  # EIO: the other end (cable, radio, pty) is gone
            raise LineDropped(f"the serial line failed: {exc.strerror}") from None
        if not chunk:
            raise LineDropped("the serial line closed")
        self._buffer += chunk
        *done, self._buffer = re.split(rb"[\r\n]", self._buffer)
        if len(self._buffer) > MAX_LINE:
            log.warning("skipped %d bytes from the radio with no line end", len(self._buffer))
            self._buffer = b""
        for raw in done:
            if raw.strip():
                yield raw.decode("ascii", "replace").strip()

    def close(self) -> None:
        os.close(self.fd)


class PeiReader:
    """Read one radio's PEI and hand each LIP report to ``publish(topic, hex_payload)``."""

    def __init__(self, port: str, publish: Callable[[str, str], None], baud: int = 38400
                 ) -> None:
        if baud not in BAUD_RATES:
            raise ValueError(f"--baud must be one of {', '.join(map(str, BAUD_RATES))}")
        self.port, self.baud, self.publish = port, baud, publish
        self._header: SdsHeader | None = None
        self.published = self.skipped = self.opened = 0

    def handle(self, line: str) -> str | None:
        """Take one line that is not a command answer; return the topic published, if any."""
        if line.startswith("+CTSDSR"):
            if self._header is not None:
                log.warning("a +CTSDSR came with no user data line; skipped it")
                self.skipped += 1
            self._header = parse_header(line)
            if self._header is None:
                log.warning("skipped a +CTSDSR line that cannot be read: %.200r", line)
                self.skipped += 1
            return None
        header, self._header = self._header, None
        if header is None:
            if not line.startswith(("+", "OK", "ERROR")):
                log.warning("skipped a line from the radio that is no report: %.200r", line)
                self.skipped += 1
            return None
        pdu = lip_pdu(header, line)
        if pdu is None:
            log.info("skipped an SDS from ISSI %d that is not a LIP report (AI service %d): "
                     "%.80r", header.calling, header.ai_service, line)
            self.skipped += 1
            return None
        topic = lip_topic(header.calling)
        self.publish(topic, pdu.hex().upper())
        self.published += 1
        return topic

    def _command(self, serial: SerialLine, command: str) -> bool:
        """Send one AT command; True on OK. Reports arriving meanwhile are handled as usual."""
        serial.write(command)
        deadline = time.monotonic() + COMMAND_TIMEOUT_S
        while (left := deadline - time.monotonic()) > 0:
            for line in serial.lines(left):
                if line == "OK":
                    return True
                if line == "ERROR" or line.startswith("+CME ERROR"):
                    log.warning("the radio answered %r to %s", line, command)
                    return False
                if line != command:  # an echo before ATE0 takes effect
                    self.handle(line)
        log.warning("the radio did not answer %s within %.0f s", command, COMMAND_TIMEOUT_S)
        return False

    def session(self, serial: SerialLine, stop: threading.Event) -> None:
        """Initialise the radio, then read reports until the line drops or ``stop`` is set."""
        for command in INIT_COMMANDS:
            self._command(serial, command)
        log.info("reading LIP reports from the radio on %s", self.port)
        while not stop.is_set():
            for line in serial.lines(0.2):
                self.handle(line)

    def run(self, stop: threading.Event) -> None:
        """Open the port and read it until ``stop``, reopening it whenever the line drops."""
        delay = BACKOFF_MIN_S
        while not stop.is_set():
            try:
                serial = SerialLine(self.port, self.baud)
            except OSError as exc:
                log.warning("cannot open %s (%s); trying again in %.1f s", self.port,
                            exc.strerror or exc, delay)
                stop.wait(delay)
                delay = min(delay * 2, BACKOFF_MAX_S)
                continue
            self.opened += 1
            self._header = None
            try:
                self.session(serial, stop)
            except LineDropped as exc:
                log.warning("lost the radio on %s (%s); reopening", self.port, exc)
                delay = BACKOFF_MIN_S
                stop.wait(delay)
            finally:
                serial.close()


def run_pei(settings: Settings, port: str, baud: int = 38400,
            stop: threading.Event | None = None) -> PeiReader:
    """Read the radio on ``port`` and publish its LIP reports until ``stop`` is set."""
    url = url_for_login(settings.mqtt_url, TETRA_GATEWAY, settings.mqtt_password_file)
    client = MqttClient(url, TETRA_GATEWAY, clean_session=False)
    reader = PeiReader(port, lambda topic, payload: _publish(client, topic, payload), baud)
    client.start()
    log.info("publishing the LIP reports of the radio on %s to %s as %s", port,
             client.address, client.client_id)
    try:
        reader.run(stop or threading.Event())
    finally:
        client.stop()
        log.info("pei stopped: %d reports published, %d lines skipped, line opened %d times",
                 reader.published, reader.skipped, reader.opened)
    return reader


def _publish(client: MqttClient, topic: str, payload: str) -> None:
    client.publish(topic, payload, qos=1)
    log.debug("published %s %s", topic, payload)
