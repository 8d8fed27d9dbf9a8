"""The committed spec is the app's spec, and it documents what the app really does."""

from core.errors import PROBLEM_JSON
from core.settings import Settings
from main import OPENAPI_PATH, create_app, export_openapi


def _app():
    return create_app(Settings(database_url="sqlite+aiosqlite:///:memory:", log_level="WARNING", _env_file=None))


def test_committed_spec_matches_the_app() -> None:
    assert OPENAPI_PATH.read_text(encoding="utf-8") == export_openapi(_app()), (
        "openapi/openapi.json is stale: run `python main.py openapi`"
    )


def test_operation_ids_are_tag_dash_name_and_unique() -> None:
    spec = _app().openapi()
    seen = set()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            tag = operation["tags"][0]
            assert operation["operationId"].startswith(f"{tag}-"), (method, path)
            assert operation["operationId"] not in seen
            seen.add(operation["operationId"])


def test_every_documented_error_is_problem_json() -> None:
    """The API's errors are problem+json; the OAuth protocol endpoints answer in their protocols' own formats."""
    spec = _app().openapi()
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    for path, operations in spec["paths"].items():
        if path.startswith(("/oauth2/", "/.well-known/")):
            continue
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    assert list(response["content"]) == [PROBLEM_JSON], (method, path, status)
                    assert response["content"][PROBLEM_JSON]["schema"] == {"$ref": "#/components/schemas/Problem"}


def test_every_route_is_documented() -> None:
    """No undocumented route (OWASP API9): everything the app serves is in the spec, except the docs pages."""
    app = _app()
    documented = {(path, method.upper()) for path, ops in app.openapi()["paths"].items() for method in ops}
    served = set()
    from fastapi import routing

    for context in routing.iter_route_contexts(app.routes):
        route = getattr(context, "route", context)
        path = getattr(context, "path", getattr(route, "path", None))
        for method in getattr(route, "methods", None) or ():
            if method != "HEAD":
                served.add((path, method))
    undocumented = {
        (path, method)
        for path, method in served - documented
        if not path.startswith(("/docs", "/openapi.json", "/oauth2/assets"))
    }
    assert undocumented == set()


def test_every_discriminator_is_a_required_property() -> None:
    """OpenAPI asks that a union's discriminator be required in each of its schemas: a client generated from the
    spec then always sends it (the app cannot tell a claim's kind without it, and refuses the claim)."""
    spec = _app().openapi()
    schemas = spec["components"]["schemas"]
    found = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "discriminator" in node:
                found.append(node["discriminator"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(spec)
    assert found  # the claim unions
    for discriminator in found:
        for target in discriminator["mapping"].values():
            schema = schemas[target.rsplit("/", 1)[1]]
            assert discriminator["propertyName"] in schema["required"], target
