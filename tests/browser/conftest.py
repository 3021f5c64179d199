"""Headless Chromium for dash_duo: Debian's chromium and chromedriver, no network for tiles.

Browser tests skip with a reason when Chromium is missing, except under CI=true where
they must run.
"""

from __future__ import annotations

import os
import shutil
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from dash.testing.composite import DashComposite
from selenium import webdriver

from dashboard import ids
from ingest.worker import IngestWorker
from patrolwatch.archive.pool import HistoryPool
from patrolwatch.core.messages import ParseContext
from patrolwatch.settings import Settings
from patrolwatch.store import Store
from tests.browser import fleet as seed
from tests.services import wait_until

CHROMIUM = os.environ.get("PATROL_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("PATROL_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")
WINDOW = (1600, 1000)
CHROME_ARGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    f"--window-size={WINDOW[0]},{WINDOW[1]}", "--disable-background-networking",
    "--disable-component-update", "--no-first-run",
)
HOWTO = ("Chromium and chromedriver are needed for the browser tests "
         "(apt-get install chromium chromium-driver)")


def pytest_setup_options() -> webdriver.ChromeOptions:
    """Give dash_duo Debian's Chromium, headless, at the control-room screen size."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in CHROME_ARGS:
        options.add_argument(arg)
    return options


def _have_chromium() -> bool:
    return Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()


@pytest.fixture(autouse=True)
def _chromium(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Skip without Chromium (fail under CI=true); put chromedriver first on PATH."""
    if not _have_chromium():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI must run the browser tests: {HOWTO}")
        pytest.skip(HOWTO)
    driver_dir = str(Path(CHROMEDRIVER).parent)
    if shutil.which("chromedriver") != CHROMEDRIVER:
        monkeypatch.setenv("PATH", driver_dir + os.pathsep + os.environ.get("PATH", ""))
    yield


@pytest.fixture(autouse=True)
def _history_pools_closed(request: pytest.FixtureRequest) -> Iterator[None]:
    """Stop the app's history pool before dash_duo stops the app.

    dash's threaded runner ends a test by raising SystemExit in every thread started while the
    app ran; the pool's executor manager thread is one, and its SystemExit failed whichever
    browser test had opened a history page. Asking for dash_duo here sets it up first, so it
    is torn down after this fixture has closed the pools.
    """
    if "dash_duo" in request.fixturenames:
        request.getfixturevalue("dash_duo")
    yield
    HistoryPool.close_all(wait=True)


@pytest.fixture
def ingest_worker(fresh_mqtt_url: str, redis_url: str) -> Iterator[Settings]:
    """Run the real ingest worker (MQTT -> Redis) on a thread; yield its settings."""
    settings = Settings(mqtt_url=fresh_mqtt_url, redis_url=redis_url,  # type: ignore[arg-type]
                        units=seed.UNITS, hotspots=seed.HOTSPOTS, metrics_port=0)
    ctx = ParseContext.from_settings(settings, seed.roster(), {})
    worker = IngestWorker(settings, Store.from_url(redis_url), ctx,
                          client_id=f"browser-ingest-{uuid.uuid4().hex[:8]}")
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    wait_until(lambda: worker.client.connected, 15, what="ingest worker connected")
    yield settings
    stop.set()
    thread.join(15)


def sign_in(dash_duo: DashComposite, base_url: str, name: str,
            password: str = seed.PASSWORD) -> None:
    """Sign in through the real login page, as a person would."""
    dash_duo.driver.get(f"{base_url}/login")
    dash_duo.wait_for_element("#name", timeout=10).send_keys(name)
    dash_duo.find_element("#password").send_keys(password)
    dash_duo.find_element("#sign-in").click()
    dash_duo.wait_for_element(f"#{ids.PAGE} > *", timeout=15)


def sign_out(dash_duo: DashComposite, base_url: str) -> None:
    """Sign out and wait for the login page."""
    dash_duo.driver.get(f"{base_url}/logout")  # a page with a button: GET signs nobody out
    dash_duo.wait_for_element("#sign-out", timeout=10).click()
    dash_duo.wait_for_element("#sign-in", timeout=10)
