"""Links to a return's printable label that open without a credential, for the
customer's email: signed with the service's secret key (HMAC-SHA256) and expiring.

The token names the return it opens and when it stops working; it opens that label
and nothing else. Without a public base URL or a key, the link is the label's path
(a client with a credential can still open it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

LINK_VALIDITY = dt.timedelta(days=30)


def label_path(return_global_id: str) -> str:
    """Where the printable label of a return is served (api/documents.py)."""
    return f"/returns/{return_global_id}/label.html"


def _mac(key: str, return_id: int, expires: int) -> str:
    message = f"return-label:{return_id}:{expires}".encode()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()[:40]


def label_token(key: str, return_id: int, expires_at: dt.datetime) -> str:
    expires = int(expires_at.timestamp())
    return f"{expires}.{_mac(key, return_id, expires)}"


def token_opens(key: str, return_id: int, token: str, now: dt.datetime) -> bool:
    """True if `token` was signed with `key` for this return and has not expired."""
    expires_text, _, mac = token.partition(".")
    if not expires_text.isdigit() or len(expires_text) > 12:
        return False
    expires = int(expires_text)
    if expires < now.timestamp():
        return False
    return hmac.compare_digest(mac, _mac(key, return_id, expires))


def label_link(
    return_id: int,
    return_global_id: str,
    *,
    base_url: str | None,
    key: str | None,
    now: dt.datetime,
) -> str:
    """The link a customer's email carries: absolute and signed when the service knows
    its public address and key, else the bare path."""
    path = label_path(return_global_id)
    if not base_url or not key:
        return path
    token = label_token(key, return_id, now + LINK_VALIDITY)
    return f"{base_url.rstrip('/')}{path}?token={token}"
