"""Who may do what in the catalogue, and the public response cache."""

import hashlib
import time
from typing import Annotated

from fastapi import Depends, Request

from auth.guards import Principal, require

Editor = Annotated[Principal, require(scopes={"catalogue:write"}, roles={"catalogue_editor"})]
Publisher = Annotated[Principal, require(scopes={"catalogue:publish"}, roles={"publisher"})]


class PublicCache:
    """Rendered public responses, kept a few seconds per process.

    The catalogue changes rarely and is read all the time. A write in this process clears the cache at once; other
    processes serve a published change after at most `ttl` seconds, well within the max-age clients are told.
    """

    def __init__(self, ttl: float = 5.0, size: int = 5000) -> None:
        self.ttl, self.size = ttl, size
        self._entries: dict[str, tuple[float, bytes, str, str, str]] = {}

    def get(self, key: str) -> tuple[bytes, str, str, str] | None:
        """(body, media type, language, ETag), while fresh."""
        entry = self._entries.get(key)
        if entry is None or time.monotonic() - entry[0] > self.ttl:
            return None
        return entry[1:]

    def put(self, key: str, body: bytes, media_type: str, language: str, tag: str) -> None:
        if len(self._entries) >= self.size:
            self._entries.clear()
        self._entries[key] = (time.monotonic(), body, media_type, language, tag)

    def clear(self) -> None:
        self._entries.clear()


def etag_of(body: bytes) -> str:
    return f'W/"{hashlib.blake2b(body, digest_size=12).hexdigest()}"'


def get_cache(request: Request) -> PublicCache:
    cache = getattr(request.app.state, "catalogue_cache", None)
    if cache is None:
        cache = request.app.state.catalogue_cache = PublicCache()
    return cache


async def cache_dependency(request: Request) -> PublicCache:
    return get_cache(request)


Cache = Annotated[PublicCache, Depends(cache_dependency)]
