"""A minimal MQTT 3.1.1 QoS 1 publisher over a raw socket: the benchmarks' load generator.

A Python paho publisher tops out near the rate the worker is meant to beat, so measuring
the worker with it would measure the publisher. This one pre-encodes PUBLISH packets and
writes them in large chunks, keeping at most ``window`` unacknowledged, and counts PUBACKs.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Callable


def _remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _utf8(text: str) -> bytes:
    data = text.encode()
    return struct.pack("!H", len(data)) + data


def connect_packet(client_id: str, keepalive: int = 60) -> bytes:
    """Encode CONNECT with a clean session."""
    body = _utf8("MQTT") + bytes([4, 0x02]) + struct.pack("!H", keepalive) + _utf8(client_id)
    return bytes([0x10]) + _remaining_length(len(body)) + body


def publish_packet(topic: str, payload: bytes, mid: int) -> bytes:
    """Encode a QoS 1 PUBLISH."""
    body = _utf8(topic) + struct.pack("!H", mid) + payload
    return bytes([0x32]) + _remaining_length(len(body)) + body


class RawPublisher:
    """Publish pre-encoded QoS 1 messages as fast as the broker acknowledges them."""

    def __init__(self, host: str, port: int, client_id: str, window: int = 20_000) -> None:
        self.sock = socket.create_connection((host, port), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.sendall(connect_packet(client_id))
        connack = self._read_exact(4)
        if connack[0] != 0x20 or connack[3] != 0:
            raise ConnectionError(f"broker refused the connection: {connack!r}")
        self.window = window
        self.acked = 0
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read_acks, daemon=True)
        self._reader.start()

    def _read_exact(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("broker closed the connection")
            data += chunk
        return data

    def _read_acks(self) -> None:
        buffer = b""
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return
                buffer += chunk
                whole = len(buffer) // 4  # PUBACK is always 4 bytes: 0x40 0x02 mid mid
                if whole:
                    buffer = buffer[whole * 4:]
                    with self._cond:
                        self.acked += whole
                        self._cond.notify_all()
        except OSError:
            return

    def publish(self, make: Callable[[int, float], tuple[str, bytes]], total: int,
                rate: float | None = None, chunk: int = 100) -> None:
        """Send ``total`` messages made by ``make(i, now)`` at QoS 1 and wait for every PUBACK.

        Messages are encoded a chunk at a time just before sending, so a timestamp in the
        payload is the publish time (for latency); ``rate`` paces the load in messages/s.
        """
        started = time.perf_counter()
        sent = 0
        while sent < total:
            end = min(total, sent + chunk)
            with self._cond:
                while sent - self.acked > self.window:
                    self._cond.wait(1.0)
            now = time.time()
            packets = []
            for i in range(sent, end):
                topic, payload = make(i, now)
                packets.append(publish_packet(topic, payload, i % 65535 + 1))
            self.sock.sendall(b"".join(packets))
            sent = end
            if rate:
                ahead = started + sent / rate - time.perf_counter()
                if ahead > 0:
                    time.sleep(ahead)  # pacing the load, not waiting for a condition
        with self._cond:
            while self.acked < total:
                if not self._cond.wait(60):
                    raise TimeoutError(f"broker acknowledged {self.acked} of {total}")

    def close(self) -> None:
        """Send DISCONNECT and close."""
        try:
            self.sock.sendall(b"\xe0\x00")
        finally:
            self.sock.close()
