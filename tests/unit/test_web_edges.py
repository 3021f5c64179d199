"""The web edge: one strict CSP on every response, unknown static paths 404 quietly, and
basemap attributions reduced to text (no browser; the Chromium side is tests/browser/test_csp.py).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dashboard.control_room.basemap import attribution_html, attribution_text, base_layer
from dashboard.hardening import content_security_policy
from tests.unit.test_auth import basic, make_app, write_users


@pytest.fixture
def app(redis_url: str, tmp_path: Path) -> Iterator[Any]:
    dash_app = make_app(redis_url, write_users(tmp_path / "users.yaml"))
    yield dash_app
    dash_app.server.extensions["patrolwatch"].publisher.close()


def test_the_policy_allows_no_inline_script_but_the_hashed_ones() -> None:
    policy = content_security_policy(["'sha256-abc='"])
    directives = dict(d.split(" ", 1) for d in policy.split("; "))
    assert directives["script-src"] == "'self' 'sha256-abc='"
    assert "unsafe-inline" not in directives["script-src"]
    assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"


@pytest.mark.integration
@pytest.mark.parametrize("path", ["/login", "/logout", "/", "/api/units", "/healthz",
                                  "/_dash-layout", "/assets/patrolwatch.css"])
def test_every_response_carries_the_policy_with_dash_s_inline_script_hashed(
        app: Any, path: str) -> None:
    response = app.server.test_client().get(path, headers=basic("sup"))
    policy = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy and "script-src 'self' 'sha256-" in policy
    scripts = dict(d.split(" ", 1) for d in policy.split("; "))["script-src"].split()
    assert set(app.csp_hashes()) <= set(scripts)  # the renderer and clientside code


@pytest.mark.integration
@pytest.mark.parametrize("path", [
    "/_dash-component-suites/dash/../../x", "/_dash-component-suites/dash/%2e%2e/%2e%2e/x",
    "/_dash-component-suites/nopkg/x.js", "/_dash-component-suites/dash_leaflet/x.js",
    "/_dash-component-suites/dash/deps/../../../../etc/passwd"])
def test_unknown_static_paths_are_404_without_a_traceback(
        app: Any, path: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        response = app.server.test_client().get(path)
    assert response.status_code == 404, path
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info], \
        [r.getMessage() for r in caplog.records]


@pytest.mark.parametrize(("raw", "text"), [
    ('<img src=x onerror="alert(1)">Evil', "Evil"),
    ('<a href="https://openmaptiles.org/">&copy; OpenMapTiles</a> <a href="x">&copy; OSM</a>',
     "© OpenMapTiles © OSM"),
    ("&copy; OpenStreetMap contributors", "© OpenStreetMap contributors"),
    ("<script>alert(1)</script>tiles", "alert(1)tiles"),
    ("a < b & c", "a < b & c"),
])
def test_attributions_keep_their_words_only(raw: str, text: str) -> None:
    assert attribution_text(raw) == text
    shown = attribution_html(raw)
    assert "<" not in shown and ">" not in shown.replace("&gt;", "")


def test_both_basemap_kinds_give_leaflet_escaped_text() -> None:
    assert base_layer("https://t/{z}/{x}/{y}.png", '<img src=x onerror=1>OSM', None
                      ).attribution == "OSM"
