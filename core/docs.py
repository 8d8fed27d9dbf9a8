"""Swagger UI served from our own origin (no third-party CDN), with the assets of the `fastapi-swagger` package."""

from importlib import resources

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse, Response

from core.errors import NotFound

_ASSETS = resources.files("fastapi_swagger") / "resources"
_TYPES = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}
# Swagger UI's page bootstraps with an inline script; everything else comes from this origin.
_DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'"
)


def docs_router(app: FastAPI, *, init_oauth: dict[str, object] | None = None) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/docs")
    async def swagger_ui() -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} - API",
            swagger_js_url="/docs/assets/swagger-ui-bundle.js",
            swagger_css_url="/docs/assets/swagger-ui.css",
            swagger_favicon_url="/docs/assets/favicon-32x32.png",
            oauth2_redirect_url="/docs/oauth2-redirect",
            init_oauth=init_oauth,
            swagger_ui_parameters={"persistAuthorization": False, "displayRequestDuration": True},
        )
        page.headers["Content-Security-Policy"] = _DOCS_CSP
        return page

    @router.get("/docs/oauth2-redirect")
    async def swagger_ui_redirect() -> HTMLResponse:
        page = get_swagger_ui_oauth2_redirect_html()
        page.headers["Content-Security-Policy"] = _DOCS_CSP
        return page

    @router.get("/docs/assets/{name}")
    async def swagger_asset(name: str) -> Response:
        if name not in _TYPES:
            raise NotFound("No such documentation asset.")
        content = (_ASSETS / name).read_bytes()
        return Response(content, media_type=_TYPES[name], headers={"Cache-Control": "public, max-age=86400"})

    return router
