"""Bilingual search tokens. Chinese has no spaces, and its words are mostly two characters long (执照, 人才, 住房), too
short for trigram matching: Chinese runs are indexed as overlapping character bigrams plus single characters (the
n-gram indexing of Lucene's CJK analyzer), English as lower-case words matched by prefix. The migrations build the
full-text index over these tokens: SQLite FTS5 (bm25), PostgreSQL tsvector + GIN (ts_rank).
"""

import re
import unicodedata
from collections.abc import Iterable

_RUNS = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+|[a-z0-9]+")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
MAX_QUERY_TOKENS = 24


def _runs(text: str) -> Iterable[str]:
    return (match.group() for match in _RUNS.finditer(unicodedata.normalize("NFKC", text).lower()))


def index_tokens(*texts: str) -> str:
    """Space-separated tokens of `texts` for the index: words, and Chinese characters and bigrams."""
    tokens: list[str] = []
    for text in texts:
        for run in _runs(text):
            if _CJK.match(run):
                tokens.extend(run)
                tokens.extend(run[i : i + 2] for i in range(len(run) - 1))
            else:
                tokens.append(run)
    return " ".join(dict.fromkeys(tokens))  # each token once: the index needs presence, not counts


def query_terms(query: str) -> list[tuple[str, bool]]:
    """(token, prefix?) pairs a document must all contain. A Chinese run matches by its bigrams (or itself, if a single
    character); an English word of three letters or more matches as a prefix, so `licen` finds licence and license."""
    terms: list[tuple[str, bool]] = []
    for run in _runs(query):
        if _CJK.match(run):
            terms.extend((run[i : i + 2], False) for i in range(len(run) - 1)) if len(run) > 1 else terms.append(
                (run, False)
            )
        else:
            terms.append((run, len(run) >= 3))
    return list(dict.fromkeys(terms))[:MAX_QUERY_TOKENS]


def fts5_query(terms: list[tuple[str, bool]]) -> str:
    """FTS5 MATCH syntax; tokens hold only letters and digits, so quoting them is enough."""
    return " ".join(f'"{token}"*' if prefix else f'"{token}"' for token, prefix in terms)


def tsquery(terms: list[tuple[str, bool]]) -> str:
    """PostgreSQL tsquery input syntax (parsed without a text-search configuration, so Chinese is kept verbatim)."""
    return " & ".join(f"'{token}':*" if prefix else f"'{token}'" for token, prefix in terms)
