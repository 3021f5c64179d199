"""The one paho-mqtt adapter: nothing outside this module touches paho types.

paho runs its network loop in a thread of its own; its callbacks here only turn a paho
message into an :class:`Inbound` value and hand it to the caller's ``on_message``.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import parse_qs, quote, unquote, urlsplit, urlunsplit

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.reasoncodes import ReasonCode

log = logging.getLogger(__name__)

BACKPRESSURE_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    """Where the broker is and how to sign in, from ``PATROL_MQTT_URL``."""

    host: str
    port: int
    tls: bool
    username: str | None
    password: str | None
    ca_file: str | None = None  # ``?cafile=PATH``: the CA that signed the broker's certificate

    @classmethod
    def from_url(cls, url: str) -> BrokerAddress:
        """Parse ``mqtt://user:pass@host:port`` (``mqtts://...?cafile=ca.crt`` for TLS)."""
        parts = urlsplit(url)
        tls = parts.scheme in ("mqtts", "ssl")
        ca_file = parse_qs(parts.query).get("cafile", [None])[-1]
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or (8883 if tls else 1883),
            tls=tls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            ca_file=ca_file or None,
        )

    def __str__(self) -> str:
        scheme = "mqtts" if self.tls else "mqtt"
        who = f"{self.username}@" if self.username else ""
        return f"{scheme}://{who}{self.host}:{self.port}"


# -- credentials.txt of `patrolwatch mqtt-credentials`: one 'name password' line per login --
def read_passwords(lines: Iterable[str]) -> dict[str, str]:
    """Parse ``name password`` lines (blank lines and # comments skipped)."""
    out: dict[str, str] = {}
    first: dict[str, int] = {}
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        name, _, password = text.partition(" ")
        if not password.strip():
            raise ValueError(f"line {number}: expected 'name password', got only {name!r}")
        if name in out:
            # Two passwords for one user: which one a device holds cannot be guessed.
            raise ValueError(f"line {number}: {name!r} already has a password on line "
                             f"{first[name]}; keep one line per user")
        out[name], first[name] = password.strip(), number
    return out


def read_password_file(path: Path) -> dict[str, str]:
    """Read a ``credentials.txt``; errors name the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except PermissionError:
        raise ValueError(f"{path}: permission denied; run as root or as the file's "
                         f"owner (uid {path.stat().st_uid})") from None
    except OSError as exc:
        raise ValueError(f"{path}: {exc.strerror or exc}") from None
    try:
        return read_passwords(text.splitlines())
    except ValueError as exc:
        raise ValueError(f"{path}:{exc}") from None


def url_with_password(url: str, password_file: Path) -> str:
    """Put the password of the URL's user, read from ``password_file``, into the URL.

    A URL without a user name, or with a password already, is returned unchanged.
    """
    parts = urlsplit(url)
    if not parts.username or parts.password:
        return url
    user = unquote(parts.username)
    if not password_file.exists():
        raise ValueError(
            f"PATROL_MQTT_PASSWORD_FILE {password_file} does not exist, so there is no "
            f"password for MQTT user {user!r} of PATROL_MQTT_URL; write it with "
            "`patrolwatch mqtt-credentials` or correct the path")
    passwords = read_password_file(password_file)
    if user not in passwords:
        raise ValueError(
            f"PATROL_MQTT_PASSWORD_FILE {password_file} has no line for MQTT user {user!r} "
            "(the user of PATROL_MQTT_URL); rerun `patrolwatch mqtt-credentials` or correct "
            "the user name")
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{quote(user, safe='')}:{quote(passwords[user], safe='')}@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


def with_login(url: str, login: str) -> str:
    """Return ``url`` signed in as ``login``, without a password (one is read from a file)."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{quote(login, safe='')}@{host}"))


def url_for_login(url: str, login: str, password_file: Path | None) -> str:
    """Return ``url`` signed in as ``login`` with its password from ``password_file``.

    A URL without a user (an open broker, as in the demo) is returned unchanged.
    """
    if not urlsplit(url).username:
        return url
    if password_file is None:
        raise ValueError(
            f"signing in to the broker as {login!r} needs its password: set "
            "PATROL_MQTT_PASSWORD_FILE to the credentials.txt of `patrolwatch mqtt-credentials`")
    return url_with_password(with_login(url, login), password_file)


class Inbound(NamedTuple):
    """A message received from the broker.

    ``generation`` counts connections: an acknowledgement is only sent on the connection
    the message arrived on (after a reconnect the broker re-sends unacknowledged messages).
    A named tuple: made once per message on paho's thread, where a frozen dataclass's
    ``__init__`` cost more than twice as much.
    """

    topic: str
    payload: bytes
    qos: int
    retain: bool
    mid: int
    generation: int
    received: float


class MqttClient:
    """A paho client that reconnects by itself and speaks in plain values."""

    def __init__(
        self,
        url: str,
        client_id: str = "",
        *,
        clean_session: bool = True,
        manual_ack: bool = False,
        subscriptions: Sequence[tuple[str, int]] = (),
        on_message: Callable[[Inbound], None] | None = None,
        on_connect: Callable[[], None] | None = None,
        max_inflight: int = 1000,
        will: tuple[str, bytes, int, bool] | None = None,
    ) -> None:
        self.address = BrokerAddress.from_url(url)
        if self.address.username:
            # A login holds one client id, its own name: the shipped broker enforces it
            # (use_username_as_clientid), so no login can take over another's session.
            client_id = self.address.username
        self.client_id = client_id
        self._subscriptions = list(subscriptions)
        self._on_message = on_message
        self._on_connect_cb = on_connect
        self._manual_ack = manual_ack
        self._connected = threading.Event()
        self._disconnected = threading.Event()
        self._last_publish: paho.MQTTMessageInfo | None = None
        self._lock = threading.Lock()
        self.generation = 0
        self.reconnects = 0
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=clean_session,
            protocol=paho.MQTTv311,
            manual_ack=manual_ack,
        )
        self._client.max_inflight_messages_set(max_inflight)
        self._client.max_queued_messages_set(0)  # unbounded: never drop an outgoing message
        self._client.reconnect_delay_set(min_delay=1, max_delay=30)
        if self.address.username:
            self._client.username_pw_set(self.address.username, self.address.password)
        if self.address.tls:
            # The system's CAs, or the force's own CA given as ?cafile= in PATROL_MQTT_URL.
            self._client.tls_set(ca_certs=self.address.ca_file, cert_reqs=ssl.CERT_REQUIRED)
        if will:
            self._client.will_set(will[0], will[1], qos=will[2], retain=will[3])
        self._client.on_connect = self._handle_connect
        self._client.on_disconnect = self._handle_disconnect
        self._client.on_message = self._handle_message
        # paho walks its topic matcher (for message_callback_add, never used here) and takes
        # two locks for every message before it calls on_message: 6 % of the ingest process
        # (docs/benchmarks.md). Hand each message on directly instead.
        self._client._handle_on_message = self._deliver  # type: ignore[method-assign,assignment]

    # -- lifecycle -------------------------------------------------------------------------
    def start(self, wait_s: float | None = None) -> bool:
        """Connect in the background (paho retries with backoff); optionally wait for it."""
        self._client.connect_async(self.address.host, self.address.port, keepalive=30)
        self._client.loop_start()
        if wait_s is None:
            return self._connected.is_set()
        return self._connected.wait(wait_s)

    def stop(self, drain_s: float = 5.0) -> None:
        """Let queued messages and acks go out, disconnect cleanly, stop the network thread.

        Closing straight after disconnect() can reset the socket with the last packets
        (PUBLISH, PUBACK, DISCONNECT) unsent: the broker would then re-send what we had
        acknowledged, or fire a last-will for a clean stop. So wait for both, briefly.
        """
        deadline = time.monotonic() + drain_s
        try:
            last = self._last_publish
            if last is not None and self._connected.is_set():
                last.wait_for_publish(timeout=max(0.0, deadline - time.monotonic()))
            if self._connected.is_set():
                self._client.disconnect()
                self._disconnected.wait(max(0.0, deadline - time.monotonic()))
            else:
                self._client.disconnect()
        except (RuntimeError, ValueError):
            pass  # never connected, or already gone: nothing left to flush
        finally:
            self._client.loop_stop()
            self._connected.clear()

    @property
    def connected(self) -> bool:
        """Tell whether the broker connection is up now."""
        return self._connected.is_set()

    def wait_connected(self, timeout_s: float) -> bool:
        """Wait until connected, up to a deadline."""
        return self._connected.wait(timeout_s)

    # -- sending -----------------------------------------------------------------------------
    def publish(self, topic: str, payload: bytes | str, qos: int = 1, retain: bool = False) -> int:
        """Queue a message (paho sends it, and re-sends QoS 1 after a reconnect); return its mid."""
        deadline = time.monotonic() + BACKPRESSURE_TIMEOUT_S
        while True:
            info = self._client.publish(topic, payload, qos=qos, retain=retain)
            if info.rc in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
                self._last_publish = info
                return int(info.mid)
            # paho can hold at most 65,535 unacknowledged messages (one per message id):
            # slow the caller down until the broker has acknowledged some, never drop one.
            if info.rc != MQTTErrorCode.MQTT_ERR_QUEUE_SIZE or time.monotonic() > deadline:
                raise RuntimeError(f"publish to {topic} failed: {paho.error_string(info.rc)}")
            time.sleep(0.001)

    def publish_and_wait(
        self, topic: str, payload: bytes | str, qos: int = 1, timeout_s: float = 10.0
    ) -> None:
        """Publish and wait until the broker has the message (PUBACK for QoS 1)."""
        info = self._client.publish(topic, payload, qos=qos)
        info.wait_for_publish(timeout=timeout_s)
        if not info.is_published():
            raise TimeoutError(f"broker {self.address} did not take {topic} in {timeout_s:.0f} s")

    def ack(self, message: Inbound) -> bool:
        """Acknowledge a QoS 1 message, only on the connection it arrived on."""
        if not self._manual_ack or message.qos == 0:
            return True
        with self._lock:
            if message.generation != self.generation or not self._connected.is_set():
                return False
            return self._client.ack(message.mid, message.qos) == MQTTErrorCode.MQTT_ERR_SUCCESS

    # -- paho callbacks (network thread): hand on, nothing else --------------------------------
    def _handle_connect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any
    ) -> None:
        if reason.is_failure:
            log.error("broker %s refused the connection: %s", self.address, reason)
            return
        with self._lock:
            self.generation += 1
            if self.generation > 1:
                self.reconnects += 1
        self._disconnected.clear()
        session = getattr(flags, "session_present", False)
        log.info("connected to %s (session present: %s)", self.address, session)
        if self._subscriptions:
            client.subscribe(self._subscriptions)
        self._connected.set()
        if self._on_connect_cb:
            self._on_connect_cb()

    def _handle_disconnect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any
    ) -> None:
        self._connected.clear()
        self._disconnected.set()
        if reason.is_failure:
            log.warning("lost broker %s (%s); reconnecting with backoff", self.address, reason)

    def _handle_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        self._deliver(msg)

    def _deliver(self, msg: paho.MQTTMessage) -> None:
        """Hand one message on as an ``Inbound`` (paho's network thread, once per message)."""
        handler = self._on_message
        if handler is None:
            return
        try:
            topic = msg.topic
        except UnicodeDecodeError:  # brokers refuse such topics; the parser rejects it by name
            topic = msg._topic.decode("utf-8", "replace")
        payload = msg.payload
        handler(Inbound(topic, payload if type(payload) is bytes else bytes(payload), msg.qos,
                        bool(msg.retain), msg.mid, self.generation, time.time()))


def publish_once(url: str, messages: Sequence[tuple[str, bytes | str]], timeout_s: float = 10.0,
                 client_id: str = "", *, keep_session: bool = False) -> None:
    """Connect, publish each message at QoS 1 and wait for the broker to take it, disconnect.

    ``keep_session`` resumes the client id's persistent session instead of wiping it, and
    acknowledges nothing it is sent: the broker keeps those messages for the session's owner.
    """
    client = MqttClient(url, client_id, clean_session=not keep_session, manual_ack=keep_session)
    if not client.start(wait_s=timeout_s):
        client.stop()
        raise ConnectionError(f"cannot reach MQTT broker at {client.address}")
    try:
        for topic, payload in messages:
            client.publish_and_wait(topic, payload, timeout_s=timeout_s)
    finally:
        client.stop()
