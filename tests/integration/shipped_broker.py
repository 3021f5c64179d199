"""The shipped Mosquitto config on a free port, with the files mqtt-credentials writes."""

from __future__ import annotations

import os
from pathlib import Path

from patrolwatch.servers import SHIPPED_CONF
from patrolwatch.tls_certs import write_certs
from tests.services import ServerProcess, free_port, mosquitto_binary

PRODUCTION_PATHS = {
    "listener 1883 127.0.0.1\n": "listener {port} 127.0.0.1\n",
    "listener 8883\n": "listener {tls_port} 127.0.0.1\n",
    "/mosquitto/config/": "{creds}/",
    "/mosquitto/tls/": "{tls}/",
    "/mosquitto/data/": "{data}/",
}


def shipped_conf(workdir: Path, creds: Path, port: int, tls_port: int | None = None) -> Path:
    """Write config/mosquitto/mosquitto.conf with only its ports and folders moved.

    The TLS listener gets ``tls_port`` (a free one if not given) and trial certificates from
    ``patrolwatch tls-certs`` in ``workdir/tls``.
    """
    text = SHIPPED_CONF.read_text()
    data = workdir / "mosquitto-data"
    data.mkdir(exist_ok=True)
    tls = workdir / "tls"
    if not (tls / "broker.key").exists():
        write_certs(tls)
    where = {"port": port, "tls_port": tls_port or free_port(), "creds": creds, "tls": tls,
             "data": data}
    for production, here in PRODUCTION_PATHS.items():
        assert production in text, f"{SHIPPED_CONF} no longer has {production!r}"
        text = text.replace(production, here.format(**where))
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


def shipped_broker(workdir: Path, creds: Path, tls_port: int | None = None) -> ServerProcess:
    """Start Mosquitto on the shipped config, reading passwd and acl from ``creds``."""
    binary = mosquitto_binary()
    assert binary is not None
    port = free_port()
    conf = shipped_conf(workdir, creds, port, tls_port)
    server = ServerProcess([binary, "-c", str(conf)], port, workdir)
    server.start()
    return server
