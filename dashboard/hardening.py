"""The dashboard's edge: body size, JSON shape, request origin and framing, on every route.

- Bodies over ``BODY_MAX`` get 413: a declared Content-Length is refused before anything is
  read, and a chunked body (no Content-Length) is never read past the limit either
  (``BodyLimit``, a WSGI wrapper around Flask, which also sets MAX_CONTENT_LENGTH).
- JSON posted to the API or to Dash's ``/_dash-update-component`` that is malformed, nested
  deeper than ``MAX_DEPTH`` or not shaped like a callback request gets 400, never 500.
- A state-changing request (any method but GET/HEAD/OPTIONS) whose ``Origin`` (or, without
  one, ``Referer``) names another site gets 403: a page elsewhere cannot make a signed-in
  browser act. Requests with neither header (curl, scripts with HTTP Basic) pass.
- Every response carries a Content-Security-Policy that runs no inline script: scripts
  only from this site (``script-src 'self'``) plus the SHA-256 hashes of exactly the inline
  scripts Dash writes into its page (``Dash.csp_hashes()``: the renderer's start-up line and
  any inline clientside callbacks), computed once the app's callbacks are registered. No
  inline event handler (``onerror=...``) can run under it. Framing is forbidden
  (``X-Frame-Options: DENY``, ``frame-ancestors 'none'``).
- A path under Dash's static routes that names no file (``/_dash-component-suites/dash/
  ../../x``) is a 404, not a 500 with a traceback in the log.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import IO, Any
from urllib.parse import urlsplit

from dash.exceptions import DependencyException
from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from patrolwatch.core.jsondepth import MAX_DEPTH, json_depth

BODY_MAX = 64 * 1024
DASH_CALLBACK_PATH = "/_dash-update-component"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
FRAME_CSP = "frame-ancestors 'none'"
STATIC_PATHS = ("/_dash-component-suites/",)


def content_security_policy(script_hashes: Sequence[str] = ()) -> str:
    """Return the policy every response carries: no inline script but the hashed ones."""
    scripts = " ".join(["'self'", *script_hashes])
    return "; ".join([
        "default-src 'self'",
        f"script-src {scripts}",
        # Dash, Plotly and Leaflet set element styles at run time; styles run no script.
        "style-src 'self' 'unsafe-inline'",
        # Map tiles come from the configured tile server (PATROL_TILE_URL), any origin.
        "img-src 'self' data: blob: https: http:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        FRAME_CSP,
    ])

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class BodyLimit:
    """Refuse bodies over ``limit`` bytes with 413 on every route, Dash's included.

    A declared Content-Length over the limit is answered before anything is read. A chunked
    body (no Content-Length) is read here up to one byte past the limit: over it, 413; within
    it, the app gets it as an ordinary sized body. (Werkzeug alone would silently cut a
    chunked body at MAX_CONTENT_LENGTH and hand the app the first 64 KiB.)
    """

    def __init__(self, app: WsgiApp, limit: int = BODY_MAX) -> None:
        self.app = app
        self.limit = limit

    def _too_large(self, start_response: StartResponse, size: str) -> list[bytes]:
        body = json.dumps({"error": f"the request body is {size} bytes; at most "
                                    f"{self.limit} are accepted"}).encode()
        start_response("413 Request Entity Too Large", [
            ("Content-Type", "application/json"), ("Content-Length", str(len(body))),
            ("Connection", "close"), *security_headers()])
        return [body]

    def __call__(self, environ: dict[str, Any], start_response: StartResponse
                 ) -> Iterable[bytes]:
        """Answer 413 for an oversize body; turn an acceptable chunked body into a sized one."""
        try:
            declared = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > self.limit:
            return self._too_large(start_response, str(declared))
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if chunked and not environ.get("CONTENT_LENGTH"):
            data = _read_at_most(environ["wsgi.input"], self.limit + 1)
            if len(data) > self.limit:
                return self._too_large(start_response, f"over {self.limit}")
            environ["wsgi.input"] = io.BytesIO(data)
            environ["CONTENT_LENGTH"] = str(len(data))
            environ.pop("HTTP_TRANSFER_ENCODING", None)
        return self.app(environ, start_response)


def _read_at_most(stream: IO[bytes], limit: int) -> bytes:
    """Read from a WSGI input until it ends or ``limit`` bytes are in hand."""
    out = bytearray()
    while len(out) < limit:
        piece = stream.read(min(64 * 1024, limit - len(out)))
        if not piece:
            break
        out.extend(piece)
    return bytes(out)


def security_headers(policy: str | None = None) -> list[tuple[str, str]]:
    """Return the headers every response carries."""
    return [("X-Frame-Options", "DENY"),
            ("Content-Security-Policy", policy or content_security_policy()),
            ("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "same-origin")]


def same_origin(origin: str | None, referer: str | None, host: str) -> bool:
    """Tell whether a request's Origin (or Referer) is this site; neither header: yes."""
    source = origin if origin is not None else referer
    if source is None:
        return True
    if source == "null":  # sandboxed frames and some redirects: never this site
        return False
    parts = urlsplit(source)
    return bool(parts.scheme in ("http", "https") and parts.netloc
                and parts.netloc.lower() == host.lower())


def json_problem(data: bytes) -> tuple[str | None, Any]:
    """Return (what is wrong with a JSON body or None, the parsed value)."""
    if json_depth(data) > MAX_DEPTH:
        return f"the JSON is nested deeper than {MAX_DEPTH} levels", None
    try:
        return None, json.loads(data)
    except (ValueError, RecursionError) as exc:
        return f"the body is not valid JSON ({str(exc)[:120]})", None


def _is_dependency(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("id"), str | dict) \
        and isinstance(value.get("property"), str)


def _dependencies(sent: Any, declared: list[Any]) -> bool:
    """Tell whether sent inputs/state match the callback's declared ones, one for one."""
    if not isinstance(sent, list) or len(sent) != len(declared):
        return False
    for item in sent:
        group = item if isinstance(item, list) else [item]  # ALL/ALLSMALLER send lists
        if not all(_is_dependency(d) for d in group):
            return False
    return True


def dash_request_problem(body: Any, callback_map: Mapping[str, Any]) -> str | None:
    """Return what makes a Dash callback request unusable, or None if Dash can run it."""
    if not isinstance(body, dict):
        return "a callback request is a JSON object"
    output = body.get("output")
    callback = callback_map.get(output) if isinstance(output, str) else None
    if callback is None:
        return "the request names no callback of this app"
    outputs = body.get("outputs")
    group = outputs if isinstance(outputs, list) else [outputs]
    if not group or not all(_is_dependency(o) or (isinstance(o, list) and all(
            _is_dependency(x) for x in o)) for o in group):
        return "`outputs` must name the callback's outputs"
    if not _dependencies(body.get("inputs"), callback.get("inputs", [])):
        return "`inputs` must match the callback's inputs"
    if not _dependencies(body.get("state", []), callback.get("state", [])):
        return "`state` must match the callback's state"
    changed = body.get("changedPropIds", [])
    if not isinstance(changed, list) or not all(isinstance(c, str) for c in changed):
        return "`changedPropIds` must be a list of strings"
    return None


def _error(status: int, message: str) -> Response:
    response = jsonify({"error": message})
    response.status_code = status
    return response


def install(server: Flask, callback_map: Callable[[], Mapping[str, Any]],
            script_hashes: Callable[[], Sequence[str]] = tuple) -> None:
    """Add the body limit, JSON checks, origin check, CSP and framing headers to the app.

    ``script_hashes`` is called once, at the first response (after every callback is
    registered), for the hashes of the page's inline scripts.
    """
    policy: list[str] = []
    server.config["MAX_CONTENT_LENGTH"] = BODY_MAX
    server.wsgi_app = BodyLimit(server.wsgi_app)  # type: ignore[method-assign]

    @server.before_request
    def check_origin() -> Response | None:
        if request.method in SAFE_METHODS:
            return None
        if same_origin(request.headers.get("Origin"), request.headers.get("Referer"),
                       request.host):
            return None
        return _error(403, "this request came from another site (its Origin is not "
                           f"{request.host}): open the dashboard itself to act")

    @server.before_request
    def check_json() -> Response | None:
        path = request.path
        if request.method in SAFE_METHODS or not (
                path.startswith("/api/") or path == DASH_CALLBACK_PATH):
            return None
        if request.mimetype != "application/json":
            return None  # the route answers 415 (API) or Flask does (Dash)
        problem, body = json_problem(request.get_data(cache=True))
        if problem is None and path == DASH_CALLBACK_PATH:
            problem = dash_request_problem(body, callback_map())
        return _error(400, problem) if problem else None

    @server.errorhandler(RequestEntityTooLarge)
    def too_large(exc: HTTPException) -> Response:
        return _error(413, exc.description or f"the request body is over {BODY_MAX} bytes")

    @server.before_request
    def unknown_static_path() -> Response | None:
        # Dash's own route turns a path outside its packages into a 500 with a traceback.
        path = request.path
        if not path.startswith(STATIC_PATHS):
            return None
        parts = path[len(STATIC_PATHS[0]):].split("/")
        if not parts or any(p in ("", ".", "..") or "\\" in p for p in parts):
            return _error(404, "no such file")
        return None

    @server.errorhandler(DependencyException)
    def no_such_static_file(exc: DependencyException) -> Response:
        # Dash raises this for a file its packages do not hold: a 404, not a logged 500.
        return _error(404, "no such file")

    @server.after_request
    def frame_headers(response: Response) -> Response:
        if not policy:
            policy.append(content_security_policy(script_hashes()))
        for name, value in security_headers(policy[0]):
            if name == "Content-Security-Policy":
                response.headers[name] = value  # the one policy, whatever a route set
                continue
            response.headers.setdefault(name, value)
        return response
