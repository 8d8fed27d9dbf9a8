"""The language of a response. Bilingual text is stored and written as {"zh-CN": ..., "en": ...}; a response renders
it in the one language the request asks for (`?lang=`, else Accept-Language, else Chinese), or keeps both with
`lang=all` (DESIGN.md section 5).

A response schema types such a text as `Localized` (one string, or the pair); a route takes `Language` and returns
`localize(result, language)`, which swaps every `Bilingual` in its models for the chosen text. Only typed pairs are
swapped: a document kept as written (a rule set, a form's values) is never rewritten because it happens to hold a
dict with those two keys.
"""

from typing import Annotated, Any, TypeVar

from fastapi import Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from core.errors import ValidationFailed, field_error

LANGUAGES = ("zh-CN", "en")
DEFAULT_LANGUAGE = "zh-CN"
BOTH = "all"

LANG_PATTERN = "^(zh-CN|en|all)$"
LANG_DESCRIPTION = "zh-CN or en for one language, all for both; else Accept-Language"
LangParam = Annotated[str | None, Query(pattern=LANG_PATTERN, description=LANG_DESCRIPTION)]
# The same parameter in OpenAPI, for a hot route that reads it itself (`requested_language`): validating a declared
# query parameter costs FastAPI about 10 us per request, 5% of a what-if assessment.
LANG_PARAMETER = {
    "name": "lang",
    "in": "query",
    "required": False,
    "description": LANG_DESCRIPTION,
    "schema": {"type": "string", "pattern": LANG_PATTERN},
}


class Bilingual(BaseModel):
    """One text in Simplified Chinese and in English."""

    # Written as "zh-CN" whoever dumps it (a response, a stored document, a signed credential), never as "zh".
    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)

    zh: str = Field(alias="zh-CN")
    en: str

    def pick(self, language: str) -> str:
        return self.en if language == "en" else self.zh


# In a response: the text in the language asked for, or both with lang=all.
Localized = str | Bilingual


def language_from_header(header: str) -> str:
    """The first of zh / en named in an Accept-Language header, by quality; Chinese when it names neither."""
    if not header:
        return DEFAULT_LANGUAGE
    ranked = []
    for index, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        params = params.strip().lower()  # "Q=0" is "q=0": the parameter's name is case-insensitive (RFC 9110 12.4.2)
        quality = 1.0
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                quality = 0.0
        if quality > 0:  # q=0 (or a quality that cannot be read) says "not this one" (RFC 9110 12.4.2)
            ranked.append((-quality, index, tag.strip().lower()))
    for _, _, tag in sorted(ranked):
        language = language_of(tag)
        if language:
            return language
    return DEFAULT_LANGUAGE


def language_of(tag: str) -> str | None:
    """zh-CN or en for a language tag of Chinese or English (any region or script), else None: a range matches its
    own language and that language's subtags (RFC 4647 3.3.1), so zha (Zhuang) is not Chinese."""
    primary = tag.strip().lower().partition("-")[0]
    return {"zh": "zh-CN", "en": "en"}.get(primary)


def pick_language(request: Request, lang: str | None) -> str:
    """zh-CN, en, or BOTH: `lang` when given, else the request's Accept-Language."""
    if lang in ("zh-CN", "en", BOTH):
        return lang
    return language_from_header(request.headers.get("accept-language", ""))


def requested_language(request: Request) -> str:
    """`pick_language` for a route that documents LANG_PARAMETER instead of declaring it; 422 as FastAPI would."""
    lang = request.query_params.get("lang")
    if lang is not None and lang not in (*LANGUAGES, BOTH):
        detail = f"String should match pattern '{LANG_PATTERN}'"  # pydantic's words, as on every other route
        error = field_error("lang", detail, code="string_pattern_mismatch", location="query")
        raise ValidationFailed("1 field(s) failed validation", errors=[error])
    return pick_language(request, lang)


def language_headers(language: str) -> dict[str, str]:
    """A localized response differs by Accept-Language (caches must key on it) and says which language it is in."""
    return {"Vary": "Accept-Language", "Content-Language": "zh-CN, en" if language == BOTH else language}


async def _response_language(request: Request, response: Response, lang: LangParam = None) -> str:
    language = pick_language(request, lang)
    response.headers.update(language_headers(language))
    return language


# The language a route renders its answer in (with the headers that say so).
Language = Annotated[str, Depends(_response_language)]

T = TypeVar("T")


def localize(value: T, language: str) -> T:
    """`value` with each Bilingual in it (in models and lists, however deep) replaced by its text in `language`; the
    same object when nothing changes (and always with BOTH)."""
    if language == BOTH:
        return value
    return _localize(value, language)


def _localize(value: Any, language: str) -> Any:
    if isinstance(value, Bilingual):
        return value.pick(language)
    if isinstance(value, BaseModel):
        changes = {}
        for name in type(value).model_fields:
            item = getattr(value, name)
            if isinstance(item, BaseModel | list):
                rendered = _localize(item, language)
                if rendered is not item:
                    changes[name] = rendered
        return value.model_copy(update=changes) if changes else value
    if isinstance(value, list):
        rendered = [_localize(item, language) for item in value]
        return rendered if any(new is not old for new, old in zip(rendered, value, strict=True)) else value
    return value
