"""Words for `_text` (the narrative) and `_content` (every text of the resource), extracted at
write time and parsed from requests the same way, so SQLite FTS5 and PostgreSQL full-text see
identical, already normalised words and answer identically.

    narrative_words(resource) -> "patient has calcinosis ..."   (space-separated, folded)
    content_words(resource)   -> every string value's words (narrative included)
    text_query("_text", 'calcinosis "left hand" OR ulcer') -> TextQuery

Words are runs of letters and digits after case and accent folding (underscores and
punctuation split words on both databases' tokenizers, so they are split here first).
The databases do no stemming ("simple" configuration / unicode61 tokenizer).
"""
from __future__ import annotations

import html
import re
import unicodedata

from ..outcomes import fail
from .criteria import TextQuery

_WORD = re.compile(r"[^\W_]+")
_TAG = re.compile(r"<[^>]*>")
MAX_WORD = 64          # longer runs (hashes, base64) are noise for text search
MAX_CHARS = 200_000    # per field: bounded work per resource at write time
# element names whose strings are not text a person searches for
_SKIP_KEYS = {"data", "div", "reference", "system", "url", "id", "fullUrl", "profile",
              "versionId", "lastUpdated", "resourceType"}


def fold(text: str) -> str:
    """Lowercase, accents stripped (not truncated, unlike values.normalise)."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def words(text: str) -> list[str]:
    return [w for w in _WORD.findall(fold(text)) if len(w) <= MAX_WORD]


def _join(parts: list[str]) -> str:
    # one fold and one regex pass over the joined text: per-string calls were 3x the cost
    out = " ".join(w for w in _WORD.findall(fold(" ".join(parts))) if len(w) <= MAX_WORD)
    return out[:MAX_CHARS].rsplit(" ", 1)[0] if len(out) > MAX_CHARS else out


def narrative_text(resource: dict) -> str:
    text = resource.get("text")
    div = text.get("div") if isinstance(text, dict) else None
    if not isinstance(div, str):
        return ""
    return html.unescape(_TAG.sub(" ", div))


def narrative_words(resource: dict) -> str:
    return _join([narrative_text(resource)])


def content_words(resource: dict, narrative: str | None = None) -> str:
    """The words of every string in the resource (codes, displays, names, notes, the
    narrative), identifiers and references' technical parts left out. `narrative`: the
    narrative's words when already known."""
    parts: list[str] = []
    stack = [resource]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for k, v in node.items():
                if isinstance(v, str):
                    if k not in _SKIP_KEYS:
                        parts.append(v)
                elif isinstance(v, (dict, list)):
                    stack.append(v)
        elif isinstance(node, list):
            for v in node:
                if isinstance(v, str):
                    parts.append(v)
                elif isinstance(v, (dict, list)):
                    stack.append(v)
    words_ = _join(parts)
    if narrative is None:
        narrative = narrative_words(resource)
    if narrative:
        words_ = (words_ + " " + narrative) if words_ else narrative
    return words_


def text_rows(resource: dict) -> tuple[str, str] | None:
    """(narrative words, content words), None when the resource has no text at all."""
    narrative = narrative_words(resource)
    content = content_words(resource, narrative)
    if not content:
        return None
    return narrative, content


def text_query(name: str, value: str) -> TextQuery:
    """Words (all must occur), "quoted phrases" (words in that order) and `OR` between
    groups; punctuation separates words as it does in the index."""
    groups: list[tuple[tuple[str, ...], ...]] = []
    current: list[tuple[str, ...]] = []
    for m in re.finditer(r'"([^"]*)"|(\S+)', value):
        phrase, bare = m.group(1), m.group(2)
        if bare == "OR":
            if current:
                groups.append(tuple(current))
            current = []
            continue
        if bare == "AND":
            continue
        ws = words(phrase if phrase is not None else bare)
        if ws:
            current.append(tuple(ws))
    if current:
        groups.append(tuple(current))
    if not groups:
        raise fail(400, "invalid", f"Parameter '{name}' needs at least one word to search for",
                   name)
    return TextQuery(tuple(groups))
