"""The shipped Mosquitto config on a free port, with the files mqtt-credentials writes."""

from __future__ import annotations

import os
from pathlib import Path

from patrolwatch.servers import SHIPPED_CONF
from tests.services import ServerProcess, free_port, mosquitto_binary

PRODUCTION_PATHS = {
    "listener 1883\n": "listener {port} 127.0.0.1\n",
    "/mosquitto/config/": "{creds}/",
    "/mosquitto/data/": "{data}/",
}


def shipped_conf(workdir: Path, creds: Path, port: int) -> Path:
    """Write config/mosquitto/mosquitto.conf with only its port and folders moved."""
    text = SHIPPED_CONF.read_text()
    data = workdir / "mosquitto-data"
    data.mkdir(exist_ok=True)
    for production, here in PRODUCTION_PATHS.items():
        assert production in text, f"{SHIPPED_CONF} no longer has {production!r}"
        text = text.replace(production, here.format(port=port, creds=creds, data=data))
    # Mosquitto buffers its stdout into a file; its own log file is written line by line.
    text += f"log_dest file {broker_log(workdir)}\n"
    if os.geteuid() == 0:  # as root Mosquitto would drop to a user that cannot read workdir
        text += "user root\n"
    path = workdir / "mosquitto-shipped.conf"
    path.write_text(text)
    return path


def broker_log(workdir: Path) -> Path:
    """Return where the shipped broker started in ``workdir`` logs (connections included)."""
    return workdir / "mosquitto-shipped.log"


def shipped_broker(workdir: Path, creds: Path) -> ServerProcess:
    """Start Mosquitto on the shipped config, reading passwd and acl from ``creds``."""
    binary = mosquitto_binary()
    assert binary is not None
    port = free_port()
    server = ServerProcess([binary, "-c", str(shipped_conf(workdir, creds, port))], port, workdir)
    server.start()
    return server
