"""The API's global ids, for the domain's own outward messages (webhook bodies, event
payloads as clients read them, email links): base64url of "Type:pk", unpadded.

schema/base.py encodes the GraphQL `Node` ids with this very function, so an id in a
webhook is the id `node(id:)` refetches.
"""

from __future__ import annotations

import base64


def global_id(type_name: str, pk: int | str) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{pk}".encode()).decode().rstrip("=")
