"""Headless Chromium for dash_duo: Debian's chromium and chromedriver, no network for tiles.

Browser tests skip with a reason when Chromium is missing, except under CI=true where
they must run.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver

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
