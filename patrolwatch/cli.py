"""The ``patrolwatch`` command line: one console script, a subcommand per job."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import ValidationError

from patrolwatch.errors import CommandError, ConfigError
from patrolwatch.settings import Settings, load_settings

log = logging.getLogger("patrolwatch")


def _stop_on_signals() -> threading.Event:
    """Return an event set by SIGINT or SIGTERM, so long-running commands stop cleanly."""
    stop = threading.Event()

    def handler(signum: int, frame: Any) -> None:
        log.info("received %s, stopping", signal.Signals(signum).name)
        # Not stop.set() here: a handler runs on the main thread, which may be inside
        # stop.wait() holding the event's lock; set() there would wait for itself forever.
        threading.Thread(target=stop.set, name="stop-signal", daemon=True).start()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return stop


# --- subcommands ------------------------------------------------------------------------
def cmd_ingest(settings: Settings, args: argparse.Namespace) -> int:
    """Run the MQTT -> Redis worker (and the coverage evaluator, one at a time across workers)."""
    from ingest.service import run_ingest

    return run_ingest(settings, _stop_on_signals(), evaluator=not args.no_evaluator,
                      client_id=args.client_id)


def cmd_archive(settings: Settings, args: argparse.Namespace) -> int:
    """Move history older than PATROL_HOT_HOURS from Redis to the archive (one at a time)."""
    from patrolwatch.archive.service import run_archiver

    return run_archiver(settings, _stop_on_signals(), once=args.once)


def cmd_picture(settings: Settings, args: argparse.Namespace) -> int:
    """Run the live-picture producer alone (one at a time holds its lock)."""
    from dashboard.picture.producer import run_producer

    return run_producer(settings, _stop_on_signals())


def cmd_dashboard(settings: Settings, args: argparse.Namespace) -> int:
    """Serve the Dash app and HTTP API with the development server."""
    from dashboard.app import create_app_from_settings

    app = create_app_from_settings(settings)
    log.info("dashboard on http://%s:%d/", args.host, args.port)
    app.run(host=args.host, port=args.port, debug=False)
    return 0


def cmd_simulate(settings: Settings, args: argparse.Namespace) -> int:
    """Run the simulated fleet."""
    from patrolwatch.sim.publisher import run_simulator

    run_simulator(settings, units=args.units, interval_s=args.interval, stop=_stop_on_signals(),
                  seed=args.seed, history_h=args.history, gaps=args.gaps)
    return 0


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    """Run the whole system on this machine."""
    from patrolwatch.demo import run_demo

    return run_demo(settings, units=args.units, port=args.port)


def cmd_device(settings: Settings, args: argparse.Namespace) -> int:
    """Act as one unit's handheld."""
    from patrolwatch import device

    if args.action == "position":
        device.send_position(settings, args.unit, args.lat, args.lon, acc=args.acc)
    elif args.action == "status":
        device.send_status(settings, args.unit, args.status, note=args.note)
    elif args.action == "ack":
        device.send_ack(settings, args.unit, args.tasking_id, accepted=not args.decline,
                        reason=args.reason)
    elif args.action == "listen":
        device.listen(settings, args.unit, stop=_stop_on_signals(), count=args.count)
    return 0


def cmd_pei(settings: Settings, args: argparse.Namespace) -> int:
    """Publish the LIP reports a TETRA radio receives on its PEI."""
    from patrolwatch.pei import run_pei

    run_pei(settings, args.port, args.baud, stop=_stop_on_signals())
    return 0


def cmd_check_config(settings: Settings, args: argparse.Namespace) -> int:
    """Validate the hotspots, roster and users files."""
    from patrolwatch.config_check import check_config

    problems = check_config(settings)
    for line in problems:
        print(line)
    if problems:
        print(f"{len(problems)} problem(s) found", file=sys.stderr)
        return 1
    print("configuration OK")
    return 0


def cmd_experiment(settings: Settings, args: argparse.Namespace) -> int:
    """Allocate a day of the experiment, or write its panel and summary."""
    from patrolwatch.experiments.commands import cmd_experiment as run

    return run(settings, args)


def cmd_user_add(settings: Settings, args: argparse.Namespace) -> int:
    """Add or replace a dashboard user; the password is read from stdin."""
    from patrolwatch.users import add_user

    password = sys.stdin.readline().rstrip("\n")
    try:
        add_user(settings.users, args.name, password, args.role, unit=args.unit)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    print(f"user {args.name!r} ({args.role}) written to {settings.users}")
    return 0


def cmd_user_remove(settings: Settings, args: argparse.Namespace) -> int:
    """Remove a dashboard user (the dashboard ends their sessions on its next request)."""
    from patrolwatch.users import remove_user

    if not remove_user(settings.users, args.name):
        raise CommandError(f"no user {args.name!r} in {settings.users}")
    print(f"user {args.name!r} removed from {settings.users}; their sessions are ended")
    return 0


def cmd_mqtt_credentials(settings: Settings, args: argparse.Namespace) -> int:
    """Write a Mosquitto password file and ACL from the roster, keeping known passwords."""
    from patrolwatch.mqtt import read_passwords
    from patrolwatch.mqtt_credentials import write_credentials

    try:
        given = read_passwords(sys.stdin) if args.password_stdin else {}
    except ValueError as exc:
        raise CommandError(f"stdin: {exc}") from None
    try:
        done = write_credentials(settings, args.out, given=given, broker_uid=args.broker_uid,
                                 secrets_uid=args.secrets_uid)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    total = len(done.kept) + len(done.generated) + len(done.given)
    print(f"{total} broker users: {len(done.kept)} passwords kept, "
          f"{len(done.generated)} new, {len(done.given)} from stdin")
    if done.generated and len(done.generated) < total:  # on a first run every user is new
        print("new: " + " ".join(done.generated))
    if done.dropped:
        print("dropped (no longer in the roster): " + " ".join(done.dropped))
    for note in done.notes:
        print(note)
    return 0


def cmd_bench(settings: Settings, args: argparse.Namespace) -> int:
    """Run a benchmark that starts what it needs itself."""
    import importlib

    module = importlib.import_module(f"patrolwatch.bench.{args.what}")
    figures: dict[str, Any] = module.run(settings)
    for key, value in figures.items():
        print(f"{key:>28}: {value}")
    if args.json:
        print(json.dumps(figures, sort_keys=True))
    return 0


# --- parser -------------------------------------------------------------------------------
def positive_int(text: str) -> int:
    """Parse a whole number of at least 1 (argparse type)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def positive_float(text: str) -> float:
    """Parse a number above 0 (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be above 0, not {text}")
    return value


def port_number(text: str) -> int:
    """Parse a TCP port (argparse type)."""
    value = positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a TCP port (1-65535)")
    return value


def _user_options(p: argparse.ArgumentParser) -> None:
    users = p.add_subparsers(dest="user_action", required=True)
    a = users.add_parser("add", help="add a user; password read from stdin")
    a.add_argument("name")
    a.add_argument("--role", required=True, choices=["viewer", "supervisor", "crew", "admin"])
    a.add_argument("--unit", default=None, help="the unit a crew user signs in as")
    r = users.add_parser("remove", help="remove a user; their dashboard sessions end at once")
    r.add_argument("name")
    r.set_defaults(func=cmd_user_remove)


def _mqtt_credentials_options(p: argparse.ArgumentParser) -> None:
    """Add the options of `patrolwatch mqtt-credentials`."""
    p.add_argument("--out", default="config/mosquitto",
                   help="folder for passwd, acl and credentials.txt (passwords already in "
                        "its credentials.txt are kept)")
    p.add_argument("--password-stdin", action="store_true",
                   help="read 'name password' lines from stdin; they override kept passwords")
    p.add_argument("--broker-uid", type=int, default=None, metavar="UID",
                   help="as root, give passwd and acl to this uid (1883 in the Mosquitto image)")
    p.add_argument("--secrets-uid", type=int, default=None, metavar="UID",
                   help="as root, give credentials.txt to this uid (10001 in PatrolWatch's image)")


def _tls_certs_options(p: argparse.ArgumentParser) -> None:
    """Add the options of `patrolwatch tls-certs`."""
    p.add_argument("dir", help="folder for ca.crt, broker.crt/.key, dashboard.crt/.key")
    p.add_argument("--host", action="append", default=[], metavar="NAME",
                   help="another DNS name or IP address the servers are reached by (repeat)")
    p.add_argument("--broker-uid", type=int, default=None, metavar="UID",
                   help="as root, give broker.key to this uid (1883 in the Mosquitto image)")
    p.add_argument("--dashboard-uid", type=int, default=None, metavar="UID",
                   help="as root, give dashboard.key to this uid (10001 in PatrolWatch's image)")


def cmd_tls_certs(settings: Settings, args: argparse.Namespace) -> int:
    """Write a trial CA and the broker's and dashboard's TLS certificates (keeping any)."""
    from pathlib import Path

    from patrolwatch.tls_certs import write_certs

    try:
        done = write_certs(Path(args.dir), args.host, owners={
            "broker": args.broker_uid, "dashboard": args.dashboard_uid})
    except (OSError, ValueError) as exc:
        raise CommandError(str(exc)) from None
    for path in done.written:
        print(f"wrote {path}")
    for path in done.kept:
        print(f"kept {path} (already there)")
    return 0


def _device_options(p: argparse.ArgumentParser) -> None:
    """Add the handheld client's actions: position, status, listen, ack."""
    p.add_argument("unit")
    actions = p.add_subparsers(dest="action", required=True)
    a = actions.add_parser("position", help="send a position")
    a.add_argument("lat", type=float)
    a.add_argument("lon", type=float)
    a.add_argument("--acc", type=float, default=None)
    a = actions.add_parser("status", help="send a status")
    a.add_argument("status")
    a.add_argument("--note", default=None)
    a = actions.add_parser("listen", help="print taskings as they arrive")
    a.add_argument("--count", type=positive_int, default=None, help="stop after this many")
    a = actions.add_parser("ack", help="acknowledge a tasking")
    a.add_argument("tasking_id")
    a.add_argument("--decline", action="store_true")
    a.add_argument("--reason", default=None)


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser (also used by tests to list subcommands)."""
    parser = argparse.ArgumentParser(
        prog="patrolwatch", description="Real-time patrol tracking and hotspot coverage.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func: Callable[[Settings, argparse.Namespace], int], help_: str
            ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_)
        p.set_defaults(func=func)
        return p

    p = add("demo", cmd_demo, "the whole system on this machine with a simulated fleet")
    p.add_argument("--units", type=positive_int, default=200)
    p.add_argument("--port", type=port_number, default=8050)

    p = add("ingest", cmd_ingest, "the MQTT -> Redis worker")
    p.add_argument("--no-evaluator", action="store_true",
                   help="do not take part in coverage evaluation")
    p.add_argument("--client-id", default=None,
                   help="MQTT client id on a broker without logins (default "
                        "PATROL_INGEST_CLIENT_ID); signed in, the client id is the login")

    p = add("archive", cmd_archive, "move history older than PATROL_HOT_HOURS to the archive")
    p.add_argument("--once", action="store_true", help="one pass, then exit (for cron)")

    add("picture", cmd_picture, "the live-picture producer alone (ingest runs one unless "
        "PATROL_PICTURE_PRODUCER=false)")

    p = add("dashboard", cmd_dashboard, "the Dash app and HTTP API (development server)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=port_number, default=8050)

    p = add("simulate", cmd_simulate, "a simulated fleet publishing real MQTT messages")
    p.add_argument("--units", type=positive_int, default=200)
    p.add_argument("--interval", type=positive_float, default=5.0, help="seconds between positions")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--history", type=float, default=0.0, metavar="HOURS",
                   help="first publish this many hours of the shift so far, with past times "
                        "(0 to 12)")
    p.add_argument("--gaps", type=int, default=0, metavar="N",
                   help="leave N always-active hotspots to become gaps (the demo uses 2)")

    _device_options(add("device", cmd_device, "a handheld client publishing as one unit"))

    p = add("pei", cmd_pei, "read a TETRA radio's PEI and publish its LIP reports to "
            "tetra/{issi}/lip (docs/radio.md)")
    p.add_argument("--port", required=True, help="the radio's serial device, e.g. /dev/ttyUSB0")
    p.add_argument("--baud", type=int, default=38400, choices=[9600, 19200, 38400, 57600, 115200])

    add("check-config", cmd_check_config, "validate hotspots, roster, users, alarm rules and "
        "experiment files")

    _user_options(add("user", cmd_user_add, "manage dashboard users"))

    from patrolwatch.experiments.commands import add_options as experiment_options
    experiment_options(add("experiment", cmd_experiment, "allocate a day of the experiment in "
                           "PATROL_EXPERIMENT, or write its panel and summary"))

    p = add("mqtt-credentials", cmd_mqtt_credentials,
            "write a Mosquitto password file and ACL from the roster")
    _mqtt_credentials_options(p)

    _tls_certs_options(add("tls-certs", cmd_tls_certs, "write a trial CA and TLS "
                           "certificates for the broker (8883) and the dashboard"))

    p = add("bench", cmd_bench, "benchmarks that start what they need themselves")
    p.add_argument("what", choices=["ingest", "coverage", "dashboard", "history"])
    p.add_argument("--json", action="store_true", help="print one JSON object last")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        settings = load_settings()
        return int(args.func(settings, args))
    except ValidationError as exc:
        for err in exc.errors():
            where = "_".join(str(p) for p in err["loc"]).upper()
            name = f"PATROL_{where}: " if where else ""
            print(f"settings: {name}{err['msg']}", file=sys.stderr)
        return 2
    except ConfigError as exc:
        for line in exc.problems:
            print(line, file=sys.stderr)
        return 2
    except (CommandError, ConnectionError, TimeoutError) as exc:
        print(f"patrolwatch {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
