"""A JSON request body that the route validates itself, straight from its bytes, for the few hot routes where it
matters.

FastAPI reads a body parameter by parsing the JSON into Python objects with `json.loads`, then validating those
objects, then placing the result among the dependencies it solves. Pydantic can instead validate the bytes in one
pass in Rust (`model_validate_json`): for the talent what-if's dozen claims that is 25 us less per request. The
route declares `openapi_extra=Body.openapi` so the document is unchanged (the model's schema still lands in the
components: `install_openapi` adds every `JsonBody`'s), and a bad body is the same problem as anywhere else: 400
for malformed JSON (or a client gone mid-body), 413 past the size limit, 422 naming each field (an empty body is a
missing one). Validation is strict: JSON's own types as the schema states them, so what the document refuses is
refused (the signed-in fuzz test in tests/test_fuzz.py holds it to that).
"""

from typing import Any, Generic, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException

M = TypeVar("M", bound=BaseModel)

_BOM = b"\xef\xbb\xbf"
# Every JsonBody made, so the OpenAPI document can publish their models' schemas.
DOCUMENTED: list[type[BaseModel]] = []


class JsonBody(Generic[M]):
    def __init__(self, model: type[M], *, description: str | None = None) -> None:
        self.model = model
        content = {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}
        self.openapi: dict[str, Any] = {"requestBody": {"content": content, "required": True}}
        if description:
            self.openapi["requestBody"]["description"] = description
        DOCUMENTED.append(model)

    async def read(self, request: Request) -> M:
        """The validated body; RequestValidationError (located in `body`, as FastAPI's own) when it is not one."""
        # (A body that is not JSON never gets here: ApiRoute answers 415 for it.)
        try:
            body = await request.body()
        except HTTPException:
            raise  # 413 from the request middleware's limit
        except Exception as error:  # the client went away mid-body (ClientDisconnect): FastAPI's answer, not a 500
            raise HTTPException(400, "There was an error parsing the body") from error
        if not body:
            raise RequestValidationError(
                [{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}]
            )
        if body.startswith(_BOM):  # RFC 8259 lets a parser ignore one; json.loads (FastAPI's parser) does
            body = body[len(_BOM) :]
        try:
            # Strict: JSON's own types as the schema says them (no "1" for 1, no 0 for false, no number for a date).
            return self.model.model_validate_json(body, strict=True)
        except ValidationError as error:
            raise RequestValidationError(
                [{**detail, "loc": ("body", *detail["loc"])} for detail in error.errors(include_url=False)]
            ) from None


def is_json(content_type: str | None) -> bool:
    """application/json, or a JSON-based type such as application/merge-patch+json (RFC 6839)."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))
