"""Bearer tokens for machine endpoints (/metrics): compared in constant time.

Shared by the dashboard's and the worker's /metrics so both read PATROL_METRICS_TOKEN the
same way: ``Authorization: Bearer <token>``, the scheme case-insensitive (RFC 7235).
"""

from __future__ import annotations

import hmac

BEARER_CHALLENGE = 'Bearer realm="PatrolWatch metrics"'


def bearer_token_ok(header: str | None, token: str) -> bool:
    """Tell whether an Authorization header carries exactly this bearer token."""
    if not header or not token:
        return False
    scheme, _, sent = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    # compare_digest takes as long whatever prefix matches; encode so non-ASCII cannot raise.
    return hmac.compare_digest(sent.strip().encode("utf-8", errors="replace"),
                               token.encode("utf-8"))
