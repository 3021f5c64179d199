"""Pure security rules, table-tested without servers: throttling windows, CSV cells, notes,
JSON depth, Origin matching, bearer tokens, the dummy hash's bcrypt cost."""

from __future__ import annotations

import json

import pytest

from dashboard.hardening import dash_request_problem, json_problem, same_origin
from patrolwatch.bearer import bearer_token_ok
from patrolwatch.core.csvsafe import csv_safe, csv_safe_row
from patrolwatch.core.jsondepth import MAX_DEPTH, json_depth
from patrolwatch.core.text import text_problem
from patrolwatch.core.throttle import (
    ADDRESS_RULE,
    NAME_RULE,
    Rule,
    in_window,
    retry_after,
    retry_after_header,
)
from patrolwatch.users import User, bcrypt_cost, dummy_hash, hash_password

RULE = Rule("name", limit=3, window_s=100.0)


# --- throttling windows ----------------------------------------------------------------------
@pytest.mark.parametrize(("failures", "now", "expected"), [
    ([], 1000.0, 0.0),
    ([990.0, 995.0], 1000.0, 0.0),  # two of three: may try
    ([990.0, 995.0, 999.0], 1000.0, 90.0),  # three: wait until 990 leaves (1090)
    ([950.0, 990.0, 995.0, 999.0], 1000.0, 90.0),  # four in window: 990 must leave
    ([899.0, 990.0, 995.0], 1000.0, 0.0),  # 899 left the window: two remain
    ([900.0, 990.0, 995.0], 1000.0, 0.0),  # exactly window_s old: out (window is open there)
    ([901.0, 990.0, 995.0], 1000.0, 1.0),
    ([990.0, 995.0, 999.0], 1089.9, pytest.approx(0.1)),
    ([990.0, 995.0, 999.0], 1090.0, 0.0),  # the window has passed
    ([999.0, 990.0, 995.0], 1000.0, 90.0),  # order does not matter
    ([1005.0, 990.0, 995.0], 1000.0, 0.0),  # a failure "from the future" is not counted
])
def test_retry_after_is_when_the_window_has_room_again(
        failures: list[float], now: float, expected: float) -> None:
    assert retry_after(failures, now, RULE) == expected


def test_the_contract_limits() -> None:
    assert (NAME_RULE.limit, NAME_RULE.window_s) == (10, 900.0)
    assert (ADDRESS_RULE.limit, ADDRESS_RULE.window_s) == (30, 900.0)
    ten = [float(t) for t in range(10)]
    assert retry_after(ten[:9], 10.0, NAME_RULE) == 0.0
    assert retry_after(ten, 10.0, NAME_RULE) == 890.0
    assert retry_after(ten * 3, 10.0, ADDRESS_RULE) == 891.0 - 1.0


def test_in_window_and_header() -> None:
    assert in_window([5.0, 1.0, 3.0], 5.0, 3.0) == [3.0, 5.0]
    assert [retry_after_header(s) for s in (0.0, 0.2, 1.0, 89.01, 900.0)] == \
        ["1", "1", "1", "90", "900"]


# --- CSV cells -------------------------------------------------------------------------------
@pytest.mark.parametrize(("cell", "expected"), [
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
    ("+1+1", "'+1+1"), ("-2+3", "'-2+3"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\t=1", "'\t=1"), ("\r=1", "'\r=1"), ("  =1", "'  =1"),
    ("Soho", "Soho"), ("a=b", "a=b"), ("", ""), ("'quoted", "'quoted"),
    (-3.5, -3.5), (7, 7), (None, None), (True, True),
])
def test_csv_safe(cell: object, expected: object) -> None:
    assert csv_safe(cell) == expected


def test_no_text_cell_starts_a_formula() -> None:
    row = csv_safe_row(["=cmd|' /C calc'!A0", "-1", -1, "@x", "ok"])
    assert row == ["'=cmd|' /C calc'!A0", "'-1", -1, "'@x", "ok"]
    assert not any(isinstance(c, str) and c[:1] in "=+-@" for c in row)


# --- notes -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("note", "problem"), [
    ("Reports of disorder outside No. 12", None),
    ("line one\nline two\tend", None),
    ("x" * 200, None),
    ("x" * 201, "201 characters"),
    ("bad\x00byte", "control character"),
    ("bell\x07", "control character"),
    ("c1\x85control", "control character"),
    ("lone \ud800 surrogate", "control character or a lone surrogate"),
    ("abc\u202edcba", "bidirectional override"),
    ("iso\u2066late\u2069", "bidirectional override"),
    ("Arabic \u0627\u0644\u0639\u0631\u0628\u064a\u0629 is fine", None),
])
def test_text_problem(note: str, problem: str | None) -> None:
    found = text_problem(note)
    assert (found is None) if problem is None else (found is not None and problem in found)


# --- JSON bodies -----------------------------------------------------------------------------
@pytest.mark.parametrize(("data", "depth"), [
    (b"1", 0), (b'"[[["', 0), (b"[]", 1), (b'{"a": [1, {"b": []}]}', 4),
    (b'["\\"[", ["]"]]', 2), (b"[" * 2000 + b"]" * 2000, 2000), (b'"\\\\"[[]]', 2),
])
def test_json_depth(data: bytes, depth: int) -> None:
    assert json_depth(data) == depth


@pytest.mark.parametrize(("data", "fragment"), [
    (b"[" * 2000 + b"]" * 2000, "nested deeper"),
    (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), "nested deeper"),
    (b"{not json", "not valid JSON"),
    (b"\xff\xfe\x00", "not valid JSON"),
    (b"", "not valid JSON"),
])
def test_json_problem_refuses(data: bytes, fragment: str) -> None:
    problem, _ = json_problem(data)
    assert problem is not None and fragment in problem


def test_json_problem_accepts_the_limit() -> None:
    data = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    assert json_problem(data)[0] is None


CALLBACKS = {"out.children": {"inputs": [{"id": "tick", "property": "n_intervals"}],
                              "state": [{"id": "s", "property": "data"}]}}
GOOD = {"output": "out.children", "outputs": {"id": "out", "property": "children"},
        "inputs": [{"id": "tick", "property": "n_intervals", "value": 1}],
        "state": [{"id": "s", "property": "data", "value": None}],
        "changedPropIds": ["tick.n_intervals"]}


@pytest.mark.parametrize("change", [
    {"output": "nope.children"}, {"output": 3}, {"outputs": None}, {"outputs": [1]},
    {"inputs": None}, {"inputs": []}, {"inputs": [1]}, {"inputs": [{"id": "tick"}]},
    {"state": "x"}, {"state": []}, {"changedPropIds": "tick"}, {"changedPropIds": [1]},
])
def test_dash_request_problem_refuses_what_dash_would_crash_on(change: dict[str, object]
                                                               ) -> None:
    assert dash_request_problem({**GOOD, **change}, CALLBACKS) is not None


def test_dash_request_problem_accepts_a_real_request() -> None:
    assert dash_request_problem(json.loads(json.dumps(GOOD)), CALLBACKS) is None
    assert dash_request_problem([GOOD], CALLBACKS) is not None


# --- Origin ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("origin", "referer", "host", "ok"), [
    (None, None, "pw.example:8050", True),
    ("http://pw.example:8050", None, "pw.example:8050", True),
    ("https://PW.example", None, "pw.example", True),
    ("https://evil.example", None, "pw.example", False),
    ("https://pw.example.evil.example", None, "pw.example", False),
    ("http://pw.example:8051", None, "pw.example:8050", False),
    ("null", None, "pw.example", False),
    ("file://", None, "pw.example", False),
    (None, "https://pw.example/login?next=/", "pw.example", True),
    (None, "https://evil.example/pw.example", "pw.example", False),
    ("https://pw.example", "https://evil.example/", "pw.example", True),  # Origin decides
])
def test_same_origin(origin: str | None, referer: str | None, host: str, ok: bool) -> None:
    assert same_origin(origin, referer, host) is ok


# --- bearer tokens ---------------------------------------------------------------------------
@pytest.mark.parametrize(("header", "ok"), [
    ("Bearer s3cret-token", True), ("bearer s3cret-token", True), ("Bearer  s3cret-token ", True),
    ("Bearer s3cret-tokenX", False), ("Bearer s3cret", False), ("Basic s3cret-token", False),
    ("s3cret-token", False), ("", False), (None, False), ("Bearer ẞ", False),
])
def test_bearer_token_ok(header: str | None, ok: bool) -> None:
    assert bearer_token_ok(header, "s3cret-token") is ok
    assert bearer_token_ok(header, "") is False


# --- equal time for unknown names ------------------------------------------------------------
@pytest.mark.parametrize("cost", [4, 6])
def test_the_dummy_hash_has_the_users_bcrypt_cost(cost: int) -> None:
    users = {n: User(n, "viewer", hash_password("long enough pw", rounds=cost))
             for n in ("a", "b")}
    assert bcrypt_cost(users["a"].password_hash) == cost
    assert bcrypt_cost(dummy_hash(users)) == cost


def test_the_dummy_hash_follows_the_common_cost_and_defaults_to_twelve() -> None:
    users = {"a": User("a", "viewer", hash_password("long enough pw", rounds=5)),
             "b": User("b", "viewer", hash_password("long enough pw", rounds=5)),
             "c": User("c", "viewer", hash_password("long enough pw", rounds=4))}
    assert bcrypt_cost(dummy_hash(users)) == 5
    assert bcrypt_cost("$2b$12$" + "x" * 53) == 12
