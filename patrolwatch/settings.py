"""One settings object for every PatrolWatch process (environment prefix ``PATROL_``)."""

from __future__ import annotations

from datetime import time
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MQTT_SCHEMES = ("mqtt", "mqtts", "tcp", "ssl")


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
    strict_roster: bool = False

    # People-facing time zone and liveness
    tz: str = "Europe/London"
    stale_after_s: float = Field(180.0, gt=0)

    # Ingest
    ingest_client_id: str = "patrolwatch-ingest"
    ingest_share_group: str | None = None  # e.g. "ingest" -> $share/ingest/patrol/+/position
    batch_max: int = Field(500, ge=1, le=10_000)
    batch_wait_ms: float = Field(20.0, ge=0)
    max_future_s: float = Field(300.0, ge=0)
    rejection_log_size: int = Field(500, ge=1)
    trail_retention_days: float = Field(31.0, gt=0)
    audit_retention_days: float = Field(31.0, gt=0)
    metrics_port: int = Field(9108, ge=0, le=65535)  # the worker's /metrics; 0 turns it off

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
    tile_url: str = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
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
            from patrolwatch.mqtt_credentials import url_with_password  # it imports Settings

            self.mqtt_url = url_with_password(self.mqtt_url, self.mqtt_password_file)
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


def load_settings(**overrides: object) -> Settings:
    """Build the settings from the environment, `.env` and explicit overrides."""
    return Settings(**overrides)  # type: ignore[arg-type]
