"""The connection every part of the store shares: client, retention periods, health check."""

from __future__ import annotations

from typing import Any, Self

import redis

from patrolwatch.settings import Settings


class StoreBase:
    """A Redis client and the retention periods the store's parts apply."""

    def __init__(self, client: redis.Redis, *, trail_retention_s: float = 31 * 86400.0,
                 audit_retention_s: float = 31 * 86400.0, rejection_log_size: int = 500) -> None:
        self.r = client
        self.trail_retention_s = trail_retention_s
        self.audit_retention_s = audit_retention_s
        self.rejection_log_size = rejection_log_size
        # unit -> when this process last trimmed its trail: housekeeping, not shared state
        self._trimmed: dict[str, float] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        """Connect with the settings' URL and retention periods."""
        return cls.from_url(settings.redis_url, trail_retention_s=settings.trail_retention_s,
                            audit_retention_s=settings.audit_retention_days * 86400.0,
                            rejection_log_size=settings.rejection_log_size)

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> Self:
        """Connect lazily to Redis/Valkey at ``url``; short timeouts so callers retry."""
        client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2,
                                      health_check_interval=10)
        return cls(client, **kwargs)

    def ping(self) -> bool:
        """Tell whether Redis answers now."""
        try:
            return bool(self.r.ping())
        except redis.RedisError:
            return False
