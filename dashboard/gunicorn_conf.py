"""Gunicorn hooks: each dashboard worker process signs in to the broker with a login of its own.

``gunicorn -c python:dashboard.gunicorn_conf -w 2 dashboard.wsgi:server``. A broker login
holds one client id (use_username_as_clientid), so two workers on one login would knock each
other off. The master gives each worker it forks the lowest free slot ``n`` and the worker
signs in as ``patrolwatch-dashboard-n`` (its password read from PATROL_MQTT_PASSWORD_FILE);
a worker that dies frees its slot for its replacement. There are PATROL_DASHBOARD_WORKERS
slots: at least twice ``-w``, since a graceful reload (HUP) starts the new workers before the
old ones stop. On a broker without logins (no user in PATROL_MQTT_URL) nothing changes.
"""

from __future__ import annotations

import os
from typing import Any

from patrolwatch.mqtt import BrokerAddress, with_login
from patrolwatch.mqtt_logins import dashboard_login
from patrolwatch.settings import load_settings

SLOT = "_patrolwatch_mqtt_slot"  # attribute the master sets on each worker object
# Threads per worker (gthread): a request waiting on the history pool holds one thread, not
# the worker, so the live screens' requests keep being answered (docs/archive.md).
threads = 8
BOOT_ERROR = 3  # gunicorn stops (rather than respawns) when a worker exits with this


def _signed_in() -> tuple[str, int] | None:
    """Return the broker URL and login count, or None on a broker without logins."""
    settings = load_settings()
    if BrokerAddress.from_url(settings.mqtt_url).username is None:
        return None
    if settings.mqtt_password_file is None:
        raise SystemExit(
            "gunicorn: every dashboard worker signs in to the broker as its own "
            "patrolwatch-dashboard-N login, whose password is read from "
            "PATROL_MQTT_PASSWORD_FILE: set it to the credentials.txt of "
            "`patrolwatch mqtt-credentials` (and keep the password out of PATROL_MQTT_URL)")
    return settings.mqtt_url, settings.dashboard_workers


def on_starting(server: Any) -> None:
    """Refuse to start with more workers than logins, or with the app preloaded."""
    signed_in = _signed_in()
    if signed_in is None:
        return
    slots = signed_in[1]
    if server.cfg.preload_app:
        raise SystemExit("gunicorn: --preload connects every worker with the master's broker "
                         "login; run the dashboard without it")
    if server.num_workers > slots:
        raise SystemExit(
            f"gunicorn: {server.num_workers} workers but PATROL_DASHBOARD_WORKERS={slots} "
            "broker logins; each worker needs its own: raise PATROL_DASHBOARD_WORKERS (to "
            "twice -w), rerun `patrolwatch mqtt-credentials` and reload the broker")


def pre_fork(server: Any, worker: Any) -> None:
    """In the master: give the worker about to start the lowest slot no live worker holds."""
    signed_in = _signed_in()
    if signed_in is None:
        return
    used = {getattr(w, SLOT, None) for w in server.WORKERS.values()}
    free = [n for n in range(1, signed_in[1] + 1) if n not in used]
    setattr(worker, SLOT, free[0] if free else None)


def post_fork(server: Any, worker: Any) -> None:
    """In the worker, before the app is imported: sign in as the slot's login."""
    signed_in = _signed_in()
    if signed_in is None:
        return
    slot = getattr(worker, SLOT, None)
    if slot is None:
        server.log.error("no free broker login for this dashboard worker (all %d in use); raise "
                         "PATROL_DASHBOARD_WORKERS and rerun `patrolwatch mqtt-credentials`",
                         signed_in[1])
        os._exit(BOOT_ERROR)
    # The settings the app builds read the password of this login from the password file.
    os.environ["PATROL_MQTT_URL"] = with_login(signed_in[0], dashboard_login(slot))
    server.log.info("dashboard worker %s signs in to the broker as %s", worker.pid,
                    dashboard_login(slot))
