"""Keyword terms: how text becomes the terms the BM25 leg of search matches on.

People ask with identifiers (`model_validator`, `useEffect`, `pathlib.Path.glob`, `--reload`,
`UV_INDEX_URL`, `docs/tutorial/index.md`) as often as with words. Each compound token yields
itself whole (lower-cased, so an exact identifier is a rare, strongly weighted term) and its
parts, split at `_ . - /` and at camelCase humps (so `useEffect` also matches "use the effect").
Parts are lower-cased, English stop words dropped, and plural and verb endings stripped lightly
("parameters" matches "parameter"); whole identifiers are never stemmed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_TOKEN = re.compile(r"-{0,2}[A-Za-z0-9_][A-Za-z0-9_]*(?:[./:-][A-Za-z0-9_]+)*")
_SEPARATORS = re.compile(r"[_./:-]+")
_HUMPS = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")

STOP_WORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had
    has have having he her here hers herself him himself his how i if in into is it its itself just
    me more most my myself no nor not now of off on once only or other our ours ourselves out over
    own same she should so some such than that the their theirs them themselves then there these
    they this those through to too under until up very was we were what when where which while who
    whom why will with would you your yours yourself yourselves""".split()  # noqa: SIM905
)


def keyword_terms(text: str) -> list[str]:
    """The terms of `text` in order, repeats kept (BM25 counts them)."""
    terms: list[str] = []
    for match in _TOKEN.finditer(text):
        token = match.group()
        pieces = _parts(token.lstrip("-"))
        whole = token.lower()
        if (len(pieces) > 1 or token.startswith("-")) and len(whole.strip("-")) > 1:
            terms.append(whole)
        terms.extend(stem(p) for p in pieces if _keep(p))
    return terms


def _parts(token: str) -> list[str]:
    pieces: list[str] = []
    for piece in _SEPARATORS.split(token):
        pieces.extend(h.lower() for h in _HUMPS.findall(piece))
    return pieces


def _keep(part: str) -> bool:
    return part not in STOP_WORDS and (len(part) > 1 or part.isdigit())


def stem(word: str) -> str:
    """A light English suffix stripper (plurals, -ing, -ed), conservative so identifiers survive."""
    if len(word) <= 3 or word.isdigit():
        return word
    for suffix, replacement in (("ies", "y"), ("sses", "ss"), ("xes", "x"), ("ches", "ch"), ("shes", "sh")):
        if word.endswith(suffix):
            return word[: -len(suffix)] + replacement
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            base = word[: -len(suffix)]
            if len(base) > 2 and base[-1] == base[-2] and base[-1] not in "lsz":
                base = base[:-1]  # "running" -> "run"
            return base
    return word


LANGUAGE_WORDS = frozenset(
    """async class const def enum export fn func function impl interface let pub static struct trait type
    var""".split()  # noqa: SIM905
)
"""The keywords of symbol labels (`def add_route`, `func (r *Router) Add`): every symbol has one; they name nothing."""
PROSE_SUFFIXES = frozenset({".md", ".mdx", ".markdown", ".rst", ".txt", ".adoc"})
"""Pages, whose headings are lines of their text already: their names would count them twice."""
GENERIC_STEMS = frozenset({"index", "main", "__init__", "mod", "lib", "readme", "page", "route", "layout"})
"""File names that say nothing of what the file holds: its folder names it (`graceful/main.go`, `hooks/index.md`)."""


def name_terms(path: str, headings: Sequence[str]) -> list[str]:
    """The terms that name a passage: its file's name (its folder's too, when the name is a generic one) and
    its heading trail (in code, the symbols it is part of), without the languages' keywords.

    They are a field of their own in the keyword leg, so a question that names a function, a class or a
    file ranks the passage that is that function above the ones that only mention it."""
    folders, _, name = path.rpartition("/")
    stem, _, suffix = name.rpartition(".")
    if f".{suffix.lower()}" in PROSE_SUFFIXES:
        return []
    stem = stem or name
    named = [stem]
    if stem.lower() in GENERIC_STEMS and folders:
        named.append(folders.rpartition("/")[2])
    terms = keyword_terms(" ".join((*named, *headings)))
    return [term for term in terms if term not in LANGUAGE_WORDS]
