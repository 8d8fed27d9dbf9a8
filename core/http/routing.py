"""The route class every API router uses: it completes what dependencies start (idempotent responses)."""

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from core.http.idempotency import IdempotencyClaim, IdempotentReplay


class ApiRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                response = await handler(request)
            except IdempotentReplay as replay:
                return replay.response
            claim: IdempotencyClaim | None = getattr(request.state, "idempotency", None)
            if claim is not None:
                # Still inside the request's transaction: the stored response commits with the work, or neither does.
                await claim.finish(response)
            return response

        return handle
