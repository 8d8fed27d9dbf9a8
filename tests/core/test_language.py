"""core.http.language: which language a request asks for, and how a response's bilingual texts are rendered in it."""

from typing import Any

import pytest
from pydantic import BaseModel

from core.http.language import BOTH, Bilingual, Localized, language_from_header, localize

PAIR = {"zh-CN": "春节", "en": "Spring Festival"}


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("", "zh-CN"),  # nothing asked: Chinese
        ("en", "en"),
        ("en-GB,en;q=0.9", "en"),
        ("zh-TW,zh;q=0.9,en;q=0.8", "zh-CN"),  # any Chinese is the Simplified Chinese we have
        ("fr-FR, en;q=0.5, zh;q=0.4", "en"),  # the best of the two we have, by quality
        ("zh;q=0.2, en;q=0.7", "en"),  # by quality, not by order
        ("en;q=0.5, zh;q=0.5", "en"),  # equal quality: the order decides
        ("de, fr", "zh-CN"),  # neither: Chinese
        ("en;q=oops, zh", "zh-CN"),  # an unreadable quality counts as 0
        ("en;q=oops", "zh-CN"),
        ("en;q=0", "zh-CN"),  # q=0: not acceptable at all, whatever else is named
        ("zh-Hant;q=0, en;q=0.1", "en"),
        ("zh;Q=0, en;Q=0.5", "en"),  # the parameter's name in any case
        ("zha, en;q=0.9", "en"),  # Zhuang is not Chinese: a range matches its language and its subtags only
        ("english, zh;q=0.5", "zh-CN"),  # not a language tag of English
        ("EN-us", "en"),  # tags are case-insensitive
    ],
)
def test_the_language_asked_for_is_read_from_accept_language(header: str, language: str) -> None:
    assert language_from_header(header) == language


class Line(BaseModel):
    name: Localized
    tags: list[str]


class Page(BaseModel):
    title: Localized
    optional: Localized | None = None
    lines: list[Line]
    # A document kept as written: a pair in it is data, not a text to render.
    document: dict[str, Any]


def page() -> Page:
    return Page(
        title=PAIR,
        lines=[Line(name=PAIR, tags=["a"]), Line(name={"zh-CN": "元旦", "en": "New Year"}, tags=[])],
        document={"name": PAIR},
    )


def test_every_typed_pair_becomes_its_text_however_deep() -> None:
    original = page()
    english = localize(original, "en")
    assert english.model_dump() == {
        "title": "Spring Festival",
        "optional": None,
        "lines": [{"name": "Spring Festival", "tags": ["a"]}, {"name": "New Year", "tags": []}],
        "document": {"name": PAIR},
    }
    assert localize(original, "zh-CN").model_dump()["lines"][1]["name"] == "元旦"
    # The original is left as it was (lines are shared between responses in the engine's cache).
    assert original.model_dump(mode="json") == page().model_dump(mode="json")
    assert isinstance(original.title, Bilingual)


def test_both_languages_keep_the_pairs_as_they_are_written() -> None:
    original = page()
    assert localize(original, BOTH) is original
    assert original.model_dump(mode="json")["title"] == PAIR  # "zh-CN", never the attribute's name, whoever dumps it
    assert original.model_dump_json().startswith('{"title":{"zh-CN":"春节","en":"Spring Festival"}')


def test_a_model_without_a_pair_is_returned_as_it_is() -> None:
    line = Line(name="plain", tags=["x", "y"])
    assert localize(line, "en") is line
    lines = [line]
    assert localize(lines, "en") is lines
