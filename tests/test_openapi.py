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


def test_every_route_that_calls_the_cloud_documents_its_failures() -> None:
    """A route that takes the cloud adapter may answer 502 or 503 when the cloud fails: the spec says so, for each."""
    spec = _app().openapi()
    documents = "/api/v1/permits/applications/{application_id}/documents/{document_id}"
    for path, method in (
        (f"{documents}/download", "get"),
        (f"{documents}/confirm", "post"),
        (f"{documents}/review", "post"),
        ("/api/v1/talent/applications/{application_id}/evidence/{evidence_id}/download", "get"),
    ):
        assert {"502", "503"} <= set(spec["paths"][path][method]["responses"]), (method, path)
    assert "503" not in spec["paths"]["/api/v1/permits/applications/{application_id}"]["get"]["responses"]


def test_every_route_that_limits_its_callers_documents_the_429() -> None:
    """Every token is counted against a per-caller limit (auth.guards.authenticate): 81 of the 87 routes that take
    one did not say they may answer 429, the audit API's among them (its guard is its router's)."""
    spec = _app().openapi()
    silent = [
        (method, path)
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        if operation.get("security") and "429" not in operation["responses"]
    ]
    assert silent == []
    for path in ("/api/v1/audit/events", "/api/v1/admin/accounts", "/api/v1/me"):
        assert spec["paths"][path]["get"]["responses"]["429"]["content"][PROBLEM_JSON]


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


def _pair_schemas(schemas: dict) -> set[str]:
    """The components that are one text in both languages (Bilingual and its stricter input forms)."""
    return {name for name, schema in schemas.items() if set(schema.get("properties", {})) == {"zh-CN", "en"}}


def test_every_bilingual_text_in_an_answer_follows_the_language_asked_for() -> None:
    """DESIGN 5: Accept-Language (or ?lang=) picks the rendering. A text the API answers with is either one string
    or, with lang=all, the pair; so wherever a pair can appear in a 2xx answer, a string can too (the schema is
    `Localized`), and the operation takes `lang`. A new bilingual field typed as the pair alone fails here."""
    spec = _app().openapi()
    schemas = spec["components"]["schemas"]
    pairs = _pair_schemas(schemas)
    assert "Bilingual" in pairs

    def bare_pairs(node: object, seen: frozenset[str]) -> list[str]:
        """Where a pair appears without a string beside it, by the path through the schema."""
        if isinstance(node, list):
            return [found for item in node for found in bare_pairs(item, seen)]
        if not isinstance(node, dict):
            return []
        reference = node.get("$ref", "").rpartition("/")[2]
        if reference in pairs:
            return [reference]
        if reference:
            return [] if reference in seen else bare_pairs(schemas[reference], seen | {reference})
        options = node.get("anyOf")
        if options and {"type": "string"} in options:
            others = [option for option in options if option != {"type": "string"}]
            return [found for found in bare_pairs(others, seen) if found not in pairs]
        return [found for value in node.values() for found in bare_pairs(value, seen)]

    localized = 0
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            answers = [r for status, r in operation["responses"].items() if status.startswith("2")]
            assert not bare_pairs(answers, frozenset()), (method, path)
            if _mentions(answers, schemas, pairs):
                localized += 1
                names = [parameter["name"] for parameter in operation.get("parameters", [])]
                assert "lang" in names, (method, path)
    assert localized >= 25  # the catalogue, calendar, credentials, permits, talent and mandates answers


def _mentions(node: object, schemas: dict, pairs: set[str], seen: frozenset[str] = frozenset()) -> bool:
    if isinstance(node, list):
        return any(_mentions(item, schemas, pairs, seen) for item in node)
    if not isinstance(node, dict):
        return False
    reference = node.get("$ref", "").rpartition("/")[2]
    if reference:
        return reference in pairs or (
            reference not in seen and _mentions(schemas[reference], schemas, pairs, seen | {reference})
        )
    return any(_mentions(value, schemas, pairs, seen) for value in node.values())


def test_each_route_publishes_the_scopes_of_every_way_through_its_guards() -> None:
    """A route taking one of several scopes lists each as a security requirement of its own (the list is an "or"),
    where it said it needed none; a route whose idempotency key has a guard of its own needs what both let through."""
    paths = _app().openapi()["paths"]

    def ways(path: str, method: str) -> list[list[str]]:
        return [requirement["oauth2"] for requirement in paths[path][method]["security"]]

    assert ways("/api/v1/talent/applications/{application_id}/comments", "get") == [
        ["partner:submit"],
        ["talent:apply"],
        ["talent:review"],
    ]
    # Applicant (permits:apply or partner:submit) and its key's guard (those or permits:process): the first decides.
    assert ways("/api/v1/permits/applications", "post") == [["partner:submit"], ["permits:apply"]]
    assert ways("/api/v1/me", "get") == [["account"], ["profile"]]
    assert ways("/api/v1/audit/events", "get") == [["audit:read"]]
    assert ways("/api/v1/talent/assessments", "post") == [[]]  # any person's token
    assert "security" not in paths["/api/v1/catalogue/services"]["get"]  # public
