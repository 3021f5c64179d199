"""PATROL_METRICS_TOKEN and PATROL_METRICS_HOST: where the worker's /metrics listens, and how."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ingest.metrics import bind_address
from patrolwatch.settings import Settings

TOKEN = "t" * 24


@pytest.mark.parametrize(("overrides", "expected"), [
    ({}, ("127.0.0.1", None)),  # no token: this machine only
    ({"metrics_token": ""}, ("127.0.0.1", None)),  # compose's unset ${PATROL_METRICS_TOKEN:-}
    ({"metrics_token": TOKEN}, ("0.0.0.0", TOKEN)),
    ({"metrics_token": TOKEN, "metrics_host": "10.0.0.5"}, ("10.0.0.5", TOKEN)),
    ({"metrics_host": "127.0.0.1"}, ("127.0.0.1", None)),
    ({"metrics_host": "::1"}, ("::1", None)),
    ({"metrics_host": "localhost"}, ("localhost", None)),
])
def test_bind_address(overrides: dict[str, str], expected: tuple[str, str | None]) -> None:
    assert bind_address(Settings(**overrides)) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5", "metrics.example"])
def test_an_open_address_needs_a_token(host: str) -> None:
    with pytest.raises(ValidationError, match="PATROL_METRICS_TOKEN"):
        Settings(metrics_host=host)


def test_a_short_token_is_refused() -> None:
    with pytest.raises(ValidationError, match="at least 16 characters"):
        Settings(metrics_token="short")  # type: ignore[arg-type]


def test_the_token_is_never_shown() -> None:
    settings = Settings(metrics_token=TOKEN)  # type: ignore[arg-type]
    assert TOKEN not in repr(settings) and TOKEN not in str(settings.model_dump())
