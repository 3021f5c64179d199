"""Dashboard sessions and failed sign-ins: server-side, shared by every dashboard worker.

A session is a random id in the browser's cookie and a hash in Redis keyed by the id's
SHA-256. It expires ``SESSION_MAX_S`` after sign-in whatever happens, and holds the
fingerprint of the user's password hash and role at sign-in: the caller compares it with the
users file on every request and ends the session when they differ.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from patrolwatch.store.base import StoreBase
from patrolwatch.store.keys import (
    SESSION_MAX_S,
    SESSIONS_PER_USER_MAX,
    k_session,
    k_sign_in_failures,
    k_user_sessions,
)

SESSION_ID_BYTES = 32


def sid_hash(sid: str) -> str:
    """Return what Redis stores of a session id (never the id itself)."""
    return hashlib.sha256(sid.encode("utf-8", errors="replace")).hexdigest()


def who_hash(who: str) -> str:
    """Return a fixed-length key part for a typed user name or an address."""
    return hashlib.blake2b(who.encode("utf-8", errors="replace"), digest_size=16).hexdigest()


@dataclass(frozen=True)
class Session:
    """A signed-in browser: whose, the user's fingerprint at sign-in, and when it began."""

    user: str
    fingerprint: str
    created: float


class SessionStore(StoreBase):
    """Sessions and sign-in failure counts in Redis."""

    def create_session(self, user: str, fingerprint: str, now: float | None = None,
                       max_s: int = SESSION_MAX_S) -> str:
        """Start a session for ``user``; return the id to put in the cookie."""
        now = time.time() if now is None else now
        sid = secrets.token_urlsafe(SESSION_ID_BYTES)
        key, mine = k_session(sid_hash(sid)), k_user_sessions(user)
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(key, mapping={"user": user, "fp": fingerprint, "created": repr(now)})
        pipe.expire(key, max_s)
        pipe.zadd(mine, {sid_hash(sid): now})
        pipe.zremrangebyscore(mine, "-inf", now - max_s)
        pipe.expire(mine, max_s)
        pipe.zrange(mine, 0, -SESSIONS_PER_USER_MAX - 1)
        surplus = cast(list[bytes], pipe.execute()[-1])
        if surplus:
            self._end(user, [s.decode() for s in surplus])
        return sid

    def session(self, sid: str) -> Session | None:
        """Return the live session with this id, or None (unknown, ended or expired)."""
        if not sid or len(sid) > 128:
            return None
        raw = cast(dict[bytes, bytes], self.r.hgetall(k_session(sid_hash(sid))))
        if not raw or b"user" not in raw:
            return None
        return Session(raw[b"user"].decode(), raw.get(b"fp", b"").decode(),
                       float(raw.get(b"created", b"0")))

    def end_session(self, sid: str) -> None:
        """End one session (sign-out)."""
        found = self.session(sid)
        pipe = self.r.pipeline(transaction=True)
        pipe.delete(k_session(sid_hash(sid)))
        if found is not None:
            pipe.zrem(k_user_sessions(found.user), sid_hash(sid))
        pipe.execute()

    def end_user_sessions(self, user: str) -> int:
        """End every session of ``user``; return how many there were."""
        hashes = [h.decode() for h in cast(list[bytes], self.r.zrange(k_user_sessions(user),
                                                                       0, -1))]
        return self._end(user, hashes)

    def user_sessions(self, user: str) -> int:
        """Return how many live sessions ``user`` has."""
        hashes = cast(list[bytes], self.r.zrange(k_user_sessions(user), 0, -1))
        if not hashes:
            return 0
        pipe = self.r.pipeline(transaction=False)
        for h in hashes:
            pipe.exists(k_session(h.decode()))
        return sum(int(x) for x in pipe.execute())

    def _end(self, user: str, hashes: Sequence[str]) -> int:
        if not hashes:
            return 0
        pipe = self.r.pipeline(transaction=True)
        pipe.delete(*(k_session(h) for h in hashes))
        pipe.zrem(k_user_sessions(user), *hashes)
        return int(pipe.execute()[0])

    # --- failed sign-ins --------------------------------------------------------------------
    def sign_in_failures(self, keys: Sequence[tuple[str, str]], now: float,
                         window_s: float) -> list[list[float]]:
        """Return the failure times in the window for each (kind, who), in one round trip."""
        pipe = self.r.pipeline(transaction=False)
        for kind, who in keys:
            pipe.zrangebyscore(k_sign_in_failures(kind, who_hash(who)), now - window_s, "+inf",
                               withscores=True)
        return [[score for _, score in rows] for rows in pipe.execute()]

    def reserve_sign_in(self, keys: Sequence[tuple[str, str, int]], now: float,
                        window_s: float) -> tuple[str | None, float]:
        """Reserve one attempt against each (kind, who, limit), or say how long to wait.

        Returns (token, 0.0) when every key has room: the attempt already counts as a
        failure, so parallel attempts cannot all pass the check before any is counted.
        ``release_sign_in(token)`` takes it back when the password was right. Otherwise
        (None, seconds until the fullest key has room). Atomic in Redis, for every worker.
        """
        token = uuid.uuid4().hex
        redis_keys = [k_sign_in_failures(kind, who_hash(who)) for kind, who, _ in keys]
        found = self._reserve(keys=redis_keys, args=[
            token, repr(now), repr(window_s), *(str(limit) for _, _, limit in keys)])
        wait = float(found.decode() if isinstance(found, bytes) else found)
        return (token, 0.0) if wait <= 0 else (None, wait)

    def release_sign_in(self, keys: Sequence[tuple[str, str]], token: str) -> None:
        """Take back a reserved attempt (the password was right: it was no failure)."""
        pipe = self.r.pipeline(transaction=False)
        for kind, who in keys:
            pipe.zrem(k_sign_in_failures(kind, who_hash(who)), token)
        pipe.execute()

    @property
    def _reserve(self) -> Any:
        script = getattr(self, "_reserve_script", None)
        if script is None:
            script = self.r.register_script(RESERVE_SIGN_IN)
            self._reserve_script = script
        return script

    def record_sign_in_failure(self, keys: Sequence[tuple[str, str, int]], now: float,
                               window_s: float) -> None:
        """Count one failed sign-in against each (kind, who, limit); keep the newest ``limit``."""
        pipe = self.r.pipeline(transaction=False)
        for kind, who, limit in keys:
            key = k_sign_in_failures(kind, who_hash(who))
            pipe.zadd(key, {uuid.uuid4().hex: now})
            pipe.zremrangebyscore(key, "-inf", now - window_s)
            pipe.zremrangebyrank(key, 0, -limit - 1)  # only the newest `limit` decide
            pipe.expire(key, int(window_s) + 1)
        pipe.execute()


# KEYS: one failure ZSET per (kind, who), all in the {auth} slot. ARGV: token, now, window,
# then one limit per key. Returns "0" after adding the token to every key, else the seconds
# (as text: Lua numbers lose digits) until the fullest key has room; nothing is added then.
RESERVE_SIGN_IN = r"""
local now, window = tonumber(ARGV[2]), tonumber(ARGV[3])
local wait = 0
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local limit = tonumber(ARGV[3 + i])
  local n = redis.call('ZCARD', key)
  if n >= limit then
    local oldest = redis.call('ZRANGE', key, n - limit, n - limit, 'WITHSCORES')
    local w = tonumber(oldest[2]) + window - now
    if w > wait then wait = w end
  end
end
if wait > 0 then return tostring(wait) end
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, ARGV[2], ARGV[1])
  redis.call('EXPIRE', key, math.floor(window) + 1)
end
return "0"
"""
