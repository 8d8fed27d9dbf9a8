"""Starlette requests as Authlib's OAuth2Request (there is no official Starlette integration).

The body is read asynchronously before the synchronous server runs in a worker thread. `datalist` keeps every value of
a repeated parameter, so Authlib can refuse `client_id=a&client_id=b` instead of silently taking the first.
"""

from collections import defaultdict
from typing import Any
from urllib.parse import parse_qsl

from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6749.requests import OAuth2Payload
from fastapi import Request

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class PairsPayload(OAuth2Payload):
    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        datalist: defaultdict[str, list[str]] = defaultdict(list)
        for key, value in pairs:
            datalist[key].append(value)
        self._datalist = datalist
        self._data = {key: values[0] for key, values in datalist.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist


class StarletteOAuth2Request(OAuth2Request):
    def __init__(
        self,
        method: str,
        uri: str,
        headers: Any,
        query: list[tuple[str, str]],
        form: list[tuple[str, str]],
        *,
        payload: str,
    ) -> None:
        super().__init__(method, uri, None, headers)
        self._args = dict(query)
        self._form = dict(form)
        self.payload = PairsPayload(query if payload == "query" else form)

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


MAX_FIELDS = 50


def holds_nul(pairs: Any) -> bool:
    """Whether any name or value of these (name, value) pairs holds a NUL character."""
    return any("\x00" in name or "\x00" in str(value) for name, value in pairs)


async def adapt(request: Request, *, payload: str = "form") -> StarletteOAuth2Request:
    """`payload="query"` for the authorization endpoint (its parameters stay in the URL even when the consent form
    posts back), the form body for the token, revocation and introspection endpoints.

    OAuth bodies are urlencoded (RFC 6749 4.1.3): parsed with parse_qsl, far cheaper than the multipart machinery.
    A body that is not valid UTF-8 or has absurdly many fields reads as empty, and Authlib answers invalid_request; so
    does a query or a body holding a NUL character, which no parameter has and PostgreSQL could not look up.
    """
    form: list[tuple[str, str]] = []
    content_type = request.headers.get("content-type", "")
    if request.method == "POST" and content_type.startswith(FORM_TYPES[0]):
        try:
            form = parse_qsl((await request.body()).decode(), keep_blank_values=True, max_num_fields=MAX_FIELDS)
        except (UnicodeDecodeError, ValueError):
            form = []
    elif request.method == "POST" and content_type.startswith(FORM_TYPES[1]):
        form = [(key, value) for key, value in (await request.form()).multi_items() if isinstance(value, str)]
    query = list(request.query_params.multi_items())
    if holds_nul(form):
        form = []
    if holds_nul(query):
        query = []
    return StarletteOAuth2Request(request.method, str(request.url), request.headers, query, form, payload=payload)
