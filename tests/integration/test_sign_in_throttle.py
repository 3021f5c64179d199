"""Parallel wrong guesses against real gunicorn (2 workers): at most the limit are tried.

The attempt is reserved in Redis before the password is checked (``auth.SignInGate.check``).
When the count was read before bcrypt and written after it, 60 parallel guesses for one name
were all tried on the development server and 11 of 24 under ``gunicorn -w 2``.
"""

from __future__ import annotations

import base64
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from patrolwatch.core.throttle import NAME_LIMIT
from tests.integration.test_production import (
    ROOT,
    SECRET,
    TOKEN_RE,
    base_env,
    cookie,
    request,
)
from tests.services import free_port, port_open, wait_until
from tests.unit.test_auth import write_users

pytestmark = pytest.mark.integration
GUESSES = 60


@pytest.fixture
def threaded(redis_url: str, tmp_path: Path) -> Iterator[int]:
    """gunicorn with 2 workers of 8 threads each: up to 16 sign-ins at once."""
    users = write_users(tmp_path / "users.yaml")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", "2", "--threads", "8", "-b",
         f"127.0.0.1:{port}", "dashboard.wsgi:server"],
        cwd=ROOT, env=base_env(redis_url, users, PATROL_SECRET_KEY=SECRET),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: proc.poll() is not None or (
            port_open(port) and request(port, "GET", "/healthz").status in (200, 503)), 60,
            what="gunicorn answering")
        assert proc.poll() is None
        yield port
    finally:
        proc.terminate()
        proc.wait(20)


def _basic_guess(port: int, n: int) -> int:
    token = base64.b64encode(f"sup:wrong guess {n}".encode()).decode()
    return request(port, "GET", "/api/units", headers={"Authorization": f"Basic {token}"}).status


def _form_guess(port: int, page: tuple[str, str], n: int) -> int:
    csrf, login_cookie = page
    body = f"name=viewer&password=wrong+{n}&csrf={csrf}&next=/"
    return request(port, "POST", "/login", body=body, headers={
        "Content-Type": "application/x-www-form-urlencoded",
        "Cookie": f"patrolwatch_login={login_cookie}"}).status


def _form_page(port: int) -> tuple[str, str]:
    page = request(port, "GET", "/login")
    token = TOKEN_RE.search(page.body)
    assert token, page.body
    return token.group(1), cookie(page, "patrolwatch_login")[0]


def test_parallel_wrong_guesses_for_one_name_get_at_most_the_limit_tried(threaded: int) -> None:
    port = threaded
    with ThreadPoolExecutor(GUESSES) as pool:
        basic = Counter(pool.map(lambda n: _basic_guess(port, n), range(GUESSES)))
    pages = [_form_page(port) for _ in range(GUESSES)]
    with ThreadPoolExecutor(GUESSES) as pool:
        form = Counter(pool.map(lambda n: _form_guess(port, pages[n], n), range(GUESSES)))
    print(f"HTTP Basic: {basic[401]} tried, {basic[429]} refused; "
          f"form: {form[401]} tried, {form[429]} refused")
    assert set(basic) <= {401, 429} and set(form) <= {401, 429}, (basic, form)
    assert basic[401] <= NAME_LIMIT and form[401] <= NAME_LIMIT, (basic, form)
    assert basic[401] + basic[429] == GUESSES
