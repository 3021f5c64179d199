"""The dashboard's /metrics is not public: a bearer token when PATROL_METRICS_TOKEN is set,
else a signed-in admin. On main anyone could read the number of units in EMERGENCY."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.unit.test_auth import basic, make_app, sign_in, write_users

pytestmark = pytest.mark.integration
TOKEN = "metrics-token-0123456789abcdef"


@pytest.fixture
def apps(redis_url: str, tmp_path: Path) -> Iterator[tuple[Any, Any]]:
    users = write_users(tmp_path / "users.yaml")
    made = (make_app(redis_url, users), make_app(redis_url, users, metrics_token=TOKEN))
    yield made
    for app in made:
        app.server.extensions["patrolwatch"].publisher.close()


def test_without_a_token_only_an_admin_reads_metrics(apps: tuple[Any, Any]) -> None:
    app = apps[0].server
    anonymous = app.test_client().get("/metrics")
    assert anonymous.status_code == 401 and "patrolwatch_units" not in anonymous.get_data(True)
    for name in ("viewer", "sup", "crew1"):
        refused = app.test_client().get("/metrics", headers=basic(name))
        assert refused.status_code == 403, name
        assert "patrolwatch_" not in refused.get_data(as_text=True)
    assert app.test_client().get("/metrics", headers=basic("admin")).status_code == 200
    browser = app.test_client()
    sign_in(browser, "admin")
    scraped = browser.get("/metrics")
    assert scraped.status_code == 200 and "patrolwatch_redis_up 1.0" in scraped.get_data(True)
    assert app.test_client().get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}
                                 ).status_code == 401


@pytest.mark.parametrize(("header", "status"), [
    (None, 401), (f"Bearer {TOKEN}x", 401), ("Bearer wrong", 401), (f"Basic {TOKEN}", 401),
    (f"Bearer {TOKEN}", 200), (f"bearer {TOKEN}", 200),
])
def test_with_a_token_metrics_need_it(apps: tuple[Any, Any], header: str | None,
                                      status: int) -> None:
    headers = {"Authorization": header} if header else {}
    response = apps[1].server.test_client().get("/metrics", headers=headers)
    assert response.status_code == status
    if status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    else:
        assert "patrolwatch_redis_up" in response.get_data(as_text=True)
