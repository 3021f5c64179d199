"""Change detection: a short fingerprint of a view model, so unchanged parts are not re-sent."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from patrolwatch.core.model import Status


# --- selection and change detection ------------------------------------------------------
def digest(value: Any) -> str:
    """Return a short fingerprint of a view model, to skip re-sending what has not changed."""
    text = json.dumps(value, default=_plain, sort_keys=True, separators=(",", ":"))
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def _plain(value: Any) -> Any:
    if hasattr(value, "__dataclass_fields__"):
        return {k: getattr(value, k) for k in value.__dataclass_fields__}
    if isinstance(value, Status):
        return value.value
    return str(value)
