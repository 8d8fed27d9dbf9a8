"""What anyone sees without a token: lists, filters, bilingual search, conditional GETs, the standard renderings."""

import jsonschema
import pytest
from pyld import jsonld

from services.catalogue.dependencies import PublicCache
from tests.helpers import assert_problem
from tests.services.catalogue.shapes import OPEN311_DEFINITION, OPEN311_SERVICES

SERVICES = "/api/v1/catalogue/services"


async def _all(client, **params) -> list[dict]:
    items, cursor = [], None
    while True:
        page = await client.get(SERVICES, params={**params, "limit": 7, **({"cursor": cursor} if cursor else {})})
        assert page.status_code == 200, page.text
        body = page.json()
        items.extend(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return items


async def test_anonymous_list_pages_through_every_published_service(client) -> None:
    items = await _all(client)
    codes = [item["code"] for item in items]
    assert len(codes) >= 25
    assert codes == sorted(codes)
    assert len(set(codes)) == len(codes)
    assert {"business-licence", "foreign-talent-work-permit", "talent-housing-subsidy"} <= set(codes)
    assert all(item["status"] == "published" for item in items)


async def test_language_follows_accept_language_and_both_on_request(client) -> None:
    zh = (await client.get(f"{SERVICES}/business-licence")).json()
    en = (await client.get(f"{SERVICES}/business-licence", headers={"Accept-Language": "en-US,en;q=0.8"})).json()
    both = (await client.get(f"{SERVICES}/business-licence", params={"lang": "all"})).json()
    assert both["title"] == {"zh-CN": zh["title"], "en": en["title"]}
    assert any("\u4e00" <= ch <= "\u9fff" for ch in zh["title"])
    assert en["title"].isascii()
    assert isinstance(en["form"][0]["label"], str)
    assert set(both["form"][0]["label"]) == {"zh-CN", "en"}
    response = await client.get(f"{SERVICES}/business-licence", headers={"Accept-Language": "en"})
    assert response.headers["content-language"] == "en"
    assert "Accept-Language" in response.headers["vary"]


@pytest.mark.parametrize(
    ("params", "check"),
    [
        ({"department": "market"}, lambda item: item["department"] == "market"),
        ({"kind": "permit"}, lambda item: item["kind"] == "permit"),
        ({"kind": "talent_benefit"}, lambda item: item["kind"] == "talent_benefit"),
        ({"audience": "talent"}, lambda item: "talent" in item["audience"]),
        ({"category": "tax"}, lambda item: item["category"] == "tax"),
    ],
)
async def test_filters(client, params: dict, check) -> None:
    items = await _all(client, **params)
    assert items
    assert all(check(item) for item in items)
    assert len(items) < len(await _all(client))


async def _search(client, q: str, **params) -> list[str]:
    response = await client.get(SERVICES, params={"q": q, **params})
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    scores = [item["score"] for item in items]
    assert scores == sorted(scores, reverse=True)  # most relevant first
    return [item["code"] for item in items]


async def test_chinese_search_finds_by_words_of_two_characters_and_more(client) -> None:
    assert (await _search(client, "营业执照"))[0] == "business-licence"
    assert {"business-licence", "food-business-licence"} <= set(await _search(client, "执照")) | set(
        await _search(client, "许可")
    )
    assert "talent-housing-subsidy" in await _search(client, "住房补贴")
    assert (await _search(client, "人才住房"))[0] == "talent-housing-subsidy"
    # A broad word finds every service about it (talent benefits all carry 人才 in their titles).
    benefits = {item["code"] for item in await _all(client, kind="talent_benefit")}
    assert benefits <= set(await _search(client, "人才", limit=100))


async def test_english_search_ranks_and_matches_prefixes(client) -> None:
    assert (await _search(client, "business licence"))[0] == "business-licence"
    assert "business-licence" in await _search(client, "licen")
    assert "foreign-talent-work-permit" in await _search(client, "work permit")
    assert await _search(client, "zzzqqq nothing") == []


async def test_search_combines_with_filters(client) -> None:
    codes = await _search(client, "人才", kind="talent_benefit")
    assert codes
    assert all(code.startswith("talent-") for code in codes)


async def test_unchanged_resources_answer_304(client) -> None:
    first = await client.get(f"{SERVICES}/business-licence")
    etag = first.headers["etag"]
    assert first.headers["cache-control"].startswith("public")
    again = await client.get(f"{SERVICES}/business-licence", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    # "*" matches any current representation (RFC 9110 13.1.2); HEAD is answered as GET, without the body.
    assert (await client.get(f"{SERVICES}/business-licence", headers={"If-None-Match": "*"})).status_code == 304
    head = await client.head(f"{SERVICES}/business-licence")
    assert (head.status_code, head.content, head.headers["etag"]) == (200, b"", etag)
    assert (await client.head(f"{SERVICES}/business-licence", headers={"If-None-Match": etag})).status_code == 304
    listing = await client.get(SERVICES, params={"kind": "permit"})
    assert (
        await client.get(SERVICES, params={"kind": "permit"}, headers={"If-None-Match": listing.headers["etag"]})
    ).status_code == 304
    # Another language is another representation.
    english = await client.get(f"{SERVICES}/business-licence", headers={"Accept-Language": "en", "If-None-Match": etag})
    assert english.status_code == 200


async def test_a_query_read_otherwise_is_never_answered_from_another_querys_cache(client) -> None:
    """The cache key is the query as FastAPI reads it: a repeated parameter counts its last value, and an encoded "&"
    is part of a value, so neither may share a cached answer with a query that reads differently."""

    async def codes(query: str) -> list[str]:
        return [item["code"] for item in (await client.get(f"{SERVICES}?{query}&lang=en")).json()["items"]]

    market = await codes("department=market")
    assert market
    assert await codes("department=housing") != market
    assert await codes("department=housing&department=market") == market
    assert await codes("department=market&department=housing") == await codes("department=housing")
    assert await codes("category=business%26department%3Dmarket") == []  # no such category
    assert await codes("category=business&department=market") == await codes("department=market&category=business")
    assert await codes("category=business&department=market")


async def test_a_parameter_the_route_does_not_read_neither_misses_nor_floods_the_cache(app, client, monkeypatch):
    """?junk=1, ?junk=2 ... change nothing in the answer: each was a cache miss (a query) and, past the cache's size,
    flushed it for everyone."""
    cache = PublicCache(size=3)
    monkeypatch.setattr(app.state, "catalogue_cache", cache, raising=False)
    first = await client.get(SERVICES, params={"department": "market", "junk": "1"})
    for n in range(2, 10):
        again = await client.get(SERVICES, params={"department": "market", "junk": str(n)})
        assert (again.content, again.headers["etag"]) == (first.content, first.headers["etag"])
    assert len(cache._entries) == 1


async def test_unknown_service_and_bad_parameters(client) -> None:
    assert_problem(await client.get(f"{SERVICES}/no-such-service"), 404, "service-not-found")
    assert_problem(await client.get(SERVICES, params={"kind": "spaceship"}), 422)
    assert_problem(await client.get(SERVICES, params={"limit": 5000}), 422)
    assert_problem(await client.get(SERVICES, params={"q": "x" * 200}), 422)
    assert_problem(await client.get(SERVICES, params={"cursor": "garbage!"}), 422)
    assert_problem(await client.get(SERVICES, params={"q": "人才", "cursor": "garbage!"}), 422)


@pytest.mark.parametrize(
    ("first", "then"),
    [
        ({"q": "人才"}, {"q": "licence"}),  # another search
        ({"q": "人才"}, {"q": "人才", "kind": "permit"}),  # the same search, filtered
        ({"department": "market"}, {"department": "housing"}),  # another filter of the list
        ({"q": "人才"}, {}),  # a search's cursor on the list
    ],
)
async def test_a_cursor_serves_only_the_query_it_came_from(client, first: dict, then: dict) -> None:
    """A page's cursor is tied to its search and filters: sent with another query it is refused, never read as a
    position in that query's results (which skipped some of them without a word)."""
    page = await client.get(SERVICES, params={**first, "limit": 2})
    cursor = page.json()["next_cursor"]
    assert cursor
    body = assert_problem(await client.get(SERVICES, params={**then, "limit": 2, "cursor": cursor}), 422)
    assert [error["field"] for error in body["errors"]] == ["cursor"]
    assert "another query" in body["detail"]
    # The query it came from takes it, in any page size or language; a truncated one is refused.
    assert (await client.get(SERVICES, params={**first, "limit": 5, "cursor": cursor, "lang": "en"})).status_code == 200
    assert_problem(await client.get(SERVICES, params={**first, "cursor": cursor[:-3]}), 422)


async def test_drafts_are_never_public(client) -> None:
    assert (await client.get(SERVICES, params={"status": "draft"})).json()["items"] == []


async def test_departments(client) -> None:
    departments = (await client.get("/api/v1/catalogue/departments", params={"lang": "en"})).json()
    codes = {d["code"] for d in departments}
    assert {"talent", "market", "housing", "hrss", "entry-exit", "tax"} <= codes
    market = (await client.get("/api/v1/catalogue/departments/market", params={"lang": "all"})).json()
    assert set(market["name"]) == {"zh-CN", "en"}
    assert_problem(await client.get("/api/v1/catalogue/departments/nowhere"), 404, "department-not-found")


async def test_open311_services_and_definitions_match_georeport_v2(client) -> None:
    services = (await client.get("/open311/v2/services.json")).json()
    jsonschema.validate(services, OPEN311_SERVICES)
    by_code = {s["service_code"]: s for s in services}
    assert by_code["business-licence"]["metadata"] is True
    english = (await client.get("/open311/v2/services.json", params={"lang": "en"})).json()
    assert next(s for s in english if s["service_code"] == "business-licence")["service_name"].isascii()
    for code in ("business-licence", "foreign-talent-work-permit", "residence-permit"):
        definition = (await client.get(f"/open311/v2/services/{code}.json")).json()
        jsonschema.validate(definition, OPEN311_DEFINITION)
        assert definition["service_code"] == code
        orders = [a["order"] for a in definition["attributes"]]
        assert orders == sorted(orders)
        assert {a["datatype"] for a in definition["attributes"]} >= {"string"}
    assert_problem(await client.get("/open311/v2/services/no-such.json"), 404)


async def test_open311_errors_are_problems_like_the_rest_of_the_api(client) -> None:
    """DESIGN 5: every error is RFC 9457 problem+json with a stable type; the Open311 renderings are views of the
    catalogue, not a second API, so they answer errors the same way (not GeoReport's [{code, description}] array)."""
    assert_problem(await client.get("/open311/v2/services/no-such.json"), 404, "service-not-found")
    bad_code = assert_problem(await client.get("/open311/v2/services/Not_A_Code.json"), 422, "validation-failed")
    assert bad_code["errors"][0]["field"] == "code"
    bad_lang = assert_problem(await client.get("/open311/v2/services.json", params={"lang": "all"}), 422)
    assert bad_lang["errors"][0]["field"] == "lang"
    assert_problem(await client.get("/open311/v2/requests.json"), 404, "not-found")
    refused = assert_problem(await client.post("/open311/v2/services.json"), 405, "method-not-allowed")
    assert refused["instance"] == "/open311/v2/services.json"


async def test_cpsv_ap_json_ld_expands_to_the_cpsv_vocabulary(client) -> None:
    response = await client.get(f"{SERVICES}/business-licence/jsonld")
    assert response.headers["content-type"].startswith("application/ld+json")
    document = response.json()
    expanded = jsonld.expand(document)
    assert len(expanded) == 1
    node = expanded[0]
    assert node["@type"] == ["http://purl.org/vocab/cpsv#PublicService"]
    # JSON-LD processors normalize language tags to lower case.
    titles = {v["@language"].lower(): v["@value"] for v in node["http://purl.org/dc/terms/title"]}
    assert set(titles) == {"zh-cn", "en"}
    authority = node["http://data.europa.eu/m8g/hasCompetentAuthority"][0]
    assert authority["@type"] == ["http://data.europa.eu/m8g/PublicOrganisation"]
    assert node["http://data.europa.eu/m8g/processingTime"][0]["@type"] == "http://www.w3.org/2001/XMLSchema#duration"
    evidence = node["http://purl.org/vocab/cpsv#hasInput"]
    assert evidence
    assert all(e["@type"] == ["http://data.europa.eu/m8g/Evidence"] for e in evidence)
    status = node["http://www.w3.org/ns/adms#status"][0]["@id"]
    assert status == "http://purl.org/adms/status/Completed"
    assert node["http://data.europa.eu/m8g/hasChannel"]
