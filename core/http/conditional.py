"""Optimistic concurrency over HTTP: a resource's ETag is its version; writes send it back in If-Match."""

import re
from typing import Annotated

from fastapi import Header, Response

from core.errors import PreconditionFailed, PreconditionRequired

IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        max_length=200,
        description="The ETag of the version you read; the write is refused with 412 if the resource changed since.",
    ),
]


def etag(version: int, language: str | None = None) -> str:
    """`"3"`; or, for a representation in one language of several, `"3.en"`: each variant a strong tag of its own
    (RFC 9110 8.8.1), which If-Match takes for the version it names."""
    return f'"{version}.{language}"' if language else f'"{version}"'


def set_etag(response: Response, version: int) -> None:
    response.headers["ETag"] = etag(version)


def check_if_match(if_match: str | None, current_version: int, *, required: bool = True) -> None:
    """412 when If-Match names another version; 428 when it is missing and the route requires it.

    Strong comparison (RFC 9110 13.1.1): weak tags never match, `*` matches any existing version.
    """
    if if_match is None:
        if required:
            raise PreconditionRequired(
                "Send If-Match with the ETag of the version you read.", headers={"ETag": etag(current_version)}
            )
        return
    candidates = [tag.strip() for tag in if_match.split(",")]
    if "*" in candidates or any(_names_version(tag, current_version) for tag in candidates):
        return
    raise PreconditionFailed(
        f"The resource is now at version {current_version}; read it again and reapply your change.",
        headers={"ETag": etag(current_version)},
    )


_LANGUAGE_TAG = re.compile(r'^"(\d+)\.[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})*"$')


def _names_version(tag: str, version: int) -> bool:
    """Strong `"3"` or `"3.<language>"` for version 3 (a weak tag never matches)."""
    if tag == etag(version):
        return True
    named = _LANGUAGE_TAG.match(tag)
    return named is not None and named.group(1) == str(version)
