"""HTTP plumbing: the request middleware, JSON bodies routes validate themselves, conditional requests (ETag /
If-Match), Idempotency-Key, the route class."""

from core.http.body import JsonBody
from core.http.conditional import IfMatch, check_if_match, etag, set_etag
from core.http.idempotency import IdempotencyClaim, IdempotencyRecord, idempotency
from core.http.middleware import RequestContextMiddleware
from core.http.routing import ApiRoute, include_routers

__all__ = [
    "ApiRoute",
    "IdempotencyClaim",
    "IdempotencyRecord",
    "IfMatch",
    "JsonBody",
    "RequestContextMiddleware",
    "check_if_match",
    "etag",
    "idempotency",
    "include_routers",
    "set_etag",
]
