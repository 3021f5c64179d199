"""One settings object for every PatrolWatch process (environment prefix ``PATROL_``)."""

from __future__ import annotations

from datetime import time
from ipaddress import ip_address
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from patrolwatch.mqtt import url_with_password

MQTT_SCHEMES = ("mqtt", "mqtts", "tcp", "ssl")
MIN_TOKEN_CHARS = 16


class Settings(BaseSettings):
    """Validated settings, built once at start-up and passed down."""

    model_config = SettingsConfigDict(
        env_prefix="PATROL_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # Connections
    mqtt_url: str = "mqtt://127.0.0.1:1883"
    # credentials.txt of `patrolwatch mqtt-credentials`: when PATROL_MQTT_URL names a user but
    # no password, the password is read from here, so it is never written in an env file.
    mqtt_password_file: Path | None = None
    redis_url: str = "redis://127.0.0.1:6379/0"

    # Configuration files
    hotspots: Path = Path("config/hotspots.geojson")
    units: Path = Path("config/units.yaml")
    users: Path = Path("config/users.yaml")
    status_codes: Path = Path("config/status_codes.yaml")
    experiment: Path | None = None  # PATROL_EXPERIMENT: a randomised trial (docs/experiments.md)
    alerts: Path = Path("config/alerts.yaml")  # alarm rules (CONTRACT.md section 7)
    strict_roster: bool = False

    # People-facing time zone and liveness
    tz: str = "Europe/London"
    stale_after_s: float = Field(180.0, gt=0)

    # Ingest
    ingest_client_id: str = "patrolwatch-ingest"  # only on a broker without logins
    # Broker logins `mqtt-credentials` writes: one per ingest worker (patrolwatch-ingest-1..N)
    # and per dashboard process (patrolwatch-dashboard-1..N), as a login holds one client id.
    ingest_workers: int = Field(1, ge=1, le=256)
    dashboard_workers: int = Field(4, ge=1, le=256)  # twice gunicorn -w: a HUP reload overlaps
    ingest_share_group: str | None = None  # e.g. "ingest" -> $share/ingest/patrol/+/position
    batch_max: int = Field(500, ge=1, le=10_000)
    batch_wait_ms: float = Field(20.0, ge=0)
    max_future_s: float = Field(300.0, ge=0)
    rejection_log_size: int = Field(500, ge=1)
    trail_retention_days: float = Field(31.0, gt=0)
    audit_retention_days: float = Field(31.0, gt=0)
    metrics_port: int = Field(9108, ge=0, le=65535)  # the worker's /metrics; 0 turns it off
    # Bearer token for /metrics; unset, the worker's /metrics listens on 127.0.0.1 only.
    metrics_token: SecretStr | None = None
    metrics_host: str | None = None  # the worker's bind address; default 0.0.0.0 with a token

    # Coverage definitions (DOMAIN.md); per-hotspot `target` overrides M and T
    visit_gap_s: float = Field(120.0, gt=0)  # G
    visit_grace_s: float = Field(60.0, ge=0)  # E
    min_visit_minutes: float = Field(10.0, gt=0)  # M
    max_gap_minutes: float = Field(120.0, gt=0)  # T, default
    max_gap_minutes_nte: float = Field(60.0, gt=0)  # T, night_time_economy
    due_warning_minutes: float = Field(15.0, ge=0)
    max_presence_acc_m: float = Field(100.0, gt=0)
    evaluate_every_s: float = Field(2.0, gt=0)
    shift_starts: str = "07:00,15:00,23:00"  # local shift changes, for shift dosage
    predictable_days: int = Field(3, ge=2)
    predictable_tolerance_minutes: float = Field(10.0, gt=0)

    # Redeployment
    speed_foot_mps: float = Field(1.4, gt=0)
    speed_cycle_mps: float = Field(4.0, gt=0)
    speed_vehicle_mps: float = Field(8.0, gt=0)
    tasking_ack_timeout_s: float = Field(300.0, gt=0)
    tasking_arrival_timeout_s: float = Field(1800.0, gt=0)

    # Dashboard
    # No public tile server by default: a force serves its own map (docs/deployment.md).
    basemap: Path | None = None  # a local .pmtiles / .mbtiles raster tileset
    tile_url: str = ""  # the force's XYZ or WMTS REST server, used when basemap is unset
    tile_attribution: str = "&copy; OpenStreetMap contributors"
    map_center_lat: float = 51.5072
    map_center_lon: float = -0.1276
    map_zoom: int = 12
    refresh_ms: int = Field(1000, ge=250)
    secret_key: str = "change-me-in-production"
    secure_cookies: bool = False  # set true behind HTTPS: the session cookie is then Secure
    # The live picture (issue 11): one producer builds what every screen shows
    picture_producer: bool = True  # run the producer in `patrolwatch ingest` (one holds the lock)
    picture_min_interval_s: float = Field(0.2, ge=0)  # least time between two builds

    # Dashboard security (docs/security.md)
    # No users file (or an empty one): the dashboard refuses to start unless this is true.
    open_access: bool = False
    # Reverse proxies in front of the dashboard whose X-Forwarded-For/-Proto/-Host are trusted
    # (0: none). Sign-in throttling counts failures per client address, which is the proxy's
    # own without this.
    trusted_proxies: int = Field(0, ge=0, le=5)
    # Ingest trust rules (CONTRACT.md sections 2 and 3)
    unit_max_rate: float = Field(5.0, gt=0)  # messages/s one unit may send, over the window
    unit_rate_window_s: float = Field(10.0, gt=0)  # ... averaged over this many seconds
    # History: Redis keeps hot_hours of positions and statuses; older ones are in the archive
    hot_hours: float = Field(24.0, gt=0)
    archive: str = "data/archive"  # a folder, or s3://bucket/prefix (AWS_* env for credentials)
    archive_every_s: float = Field(300.0, gt=0)  # how often the archiver looks for work
    trail_max_points: int = Field(10_000, ge=2, le=1_000_000)
    # History queries run in a pool of low-priority processes (docs/archive.md "Isolation")
    history_workers: int = Field(1, ge=1, le=16)  # pool processes per dashboard process
    history_queue: int = Field(2, ge=0, le=64)  # requests waiting beyond those, then 503
    history_max_points: int = Field(400_000, ge=1)  # points one request may read, else 413
    history_memory_mb: int = Field(256, ge=64)  # DuckDB memory_limit in each pool process

    @field_validator("tz")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name)") from exc
        return value

    @field_validator("mqtt_url")
    @classmethod
    def _mqtt_scheme(cls, value: str) -> str:
        if urlsplit(value).scheme not in MQTT_SCHEMES:
            raise ValueError(f"PATROL_MQTT_URL must start with mqtt:// or mqtts://, not {value!r}")
        return value

    @model_validator(mode="after")
    def _mqtt_password_from_file(self) -> Settings:
        if self.mqtt_password_file is not None:
            self.mqtt_url = url_with_password(self.mqtt_url, self.mqtt_password_file)
        return self

    @field_validator("metrics_token", mode="before")
    @classmethod
    def _metrics_token_long_enough(cls, value: object) -> object:
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if text is None or text == "":
            return None  # compose passes an unset ${PATROL_METRICS_TOKEN:-} as ""
        if isinstance(text, str) and len(text.strip()) < MIN_TOKEN_CHARS:
            raise ValueError(f"PATROL_METRICS_TOKEN must be at least {MIN_TOKEN_CHARS} "
                             "characters (e.g. `python3 -c 'import secrets; "
                             "print(secrets.token_urlsafe(32))'`)")
        return value

    @model_validator(mode="after")
    def _metrics_open_only_with_a_token(self) -> Settings:
        if self.metrics_host and self.metrics_token is None and not _is_loopback(self.metrics_host):
            raise ValueError(
                f"PATROL_METRICS_HOST={self.metrics_host} would serve the worker's /metrics to "
                "the network without a password: set PATROL_METRICS_TOKEN too, or leave "
                "PATROL_METRICS_HOST unset (127.0.0.1)")
        return self

    @field_validator("shift_starts")
    @classmethod
    def _shift_times(cls, value: str) -> str:
        try:
            parsed = sorted(time.fromisoformat(p.strip()) for p in value.split(",") if p.strip())
        except ValueError:
            raise ValueError(f"PATROL_SHIFT_STARTS must be HH:MM times separated by commas, "
                             f"not {value!r}") from None
        if not parsed:
            raise ValueError("PATROL_SHIFT_STARTS needs at least one HH:MM time")
        return ",".join(t.strftime("%H:%M") for t in parsed)

    @property
    def shift_start_times(self) -> list[time]:
        """Return the local times at which shifts change, earliest first."""
        return [time.fromisoformat(p) for p in self.shift_starts.split(",")]

    @property
    def zone(self) -> ZoneInfo:
        """Return the zone of schedules and of times shown to people."""
        return ZoneInfo(self.tz)

    @property
    def trail_retention_s(self) -> float:
        """Return how long raw positions are kept, in seconds."""
        return self.trail_retention_days * 86_400.0


def _is_loopback(host: str) -> bool:
    """Tell whether a bind address only reaches this machine."""
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def load_settings(**overrides: object) -> Settings:
    """Build the settings from the environment, `.env` and explicit overrides."""
    return Settings(**overrides)  # type: ignore[arg-type]
