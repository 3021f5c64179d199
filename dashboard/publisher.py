"""The dashboard's own MQTT connection: taskings to units, and the crew page's messages.

One ``Publisher`` per app (held by ``Deps``), connected on first use: a gunicorn master
that imports the app before forking never holds a connection its workers would share,
and a worker that finds itself in a new process opens its own. Every publish is QoS 1 and
waits for the broker's PUBACK, so a broker that cannot be reached is an error the person
sees, not a message silently left behind.
"""

from __future__ import annotations

import os
import threading
import uuid

from patrolwatch.mqtt import BrokerAddress, MqttClient

CONNECT_TIMEOUT_S = 5.0
PUBLISH_TIMEOUT_S = 10.0


class BrokerUnavailableError(ConnectionError):
    """The broker could not be reached or did not confirm a message; says what to check."""


class Publisher:
    """A lazily connected MQTT client for one dashboard process."""

    def __init__(self, url: str, client_prefix: str = "patrolwatch-dashboard", *,
                 connect_timeout_s: float = CONNECT_TIMEOUT_S,
                 publish_timeout_s: float = PUBLISH_TIMEOUT_S) -> None:
        self.url = url
        self.address = BrokerAddress.from_url(url)
        self.client_prefix = client_prefix
        self.connect_timeout_s = connect_timeout_s
        self.publish_timeout_s = publish_timeout_s
        self._client: MqttClient | None = None
        self._pid: int | None = None
        self._lock = threading.Lock()

    def _connection(self) -> MqttClient:
        """Return this process's client, starting it (in the background) on first use."""
        with self._lock:
            if self._client is None or self._pid != os.getpid():
                # A unique client id per process: two workers with one id knock each other off.
                client_id = f"{self.client_prefix}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
                self._client = MqttClient(self.url, client_id)
                self._pid = os.getpid()
                self._client.start()
            return self._client

    def ensure_connected(self) -> MqttClient:
        """Return a connected client or raise BrokerUnavailableError (nothing is sent)."""
        client = self._connection()
        if not client.wait_connected(self.connect_timeout_s):
            raise BrokerUnavailableError(
                f"cannot reach the MQTT broker at {self.address} (no connection within "
                f"{self.connect_timeout_s:g} s): nothing was sent. Check that the broker is "
                "running and that PATROL_MQTT_URL points at it.")
        return client

    def publish(self, topic: str, payload: str) -> None:
        """Publish at QoS 1 and wait for the broker to take it; raise BrokerUnavailableError."""
        client = self.ensure_connected()
        try:
            client.publish_and_wait(topic, payload, qos=1, timeout_s=self.publish_timeout_s)
        except (TimeoutError, RuntimeError, ValueError) as exc:
            # paho keeps an unconfirmed QoS 1 message and re-sends it after reconnecting.
            raise BrokerUnavailableError(
                f"the MQTT broker at {self.address} did not confirm {topic} ({exc}): it is "
                "queued and goes out when the connection returns; check the broker.") from None

    @property
    def connected(self) -> bool:
        """Tell whether this process's connection is up (False before first use)."""
        client = self._client
        return client is not None and self._pid == os.getpid() and client.connected

    def close(self) -> None:
        """Disconnect cleanly (tests and shutdown); a later publish connects again."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.stop()
