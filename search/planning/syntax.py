"""Safe-mode query syntax: what a person types, read into a Whoosh query.

Safe by default (as datasette and Elasticsearch's simple_query_string do):
the user's text is read by a small tokenizer of our own, never by Whoosh's
query parser, so no input can raise a syntax error.  It understands

    words            any of them may match (search.backends.query ranks them)
    "a phrase"       the words adjacent, in order
    +word +"phrase"  must match
    -word -"phrase"  must not match (also NOT word)
    a OR b           either (the same as a b, unless a or b is required)

and treats anything else (colons, brackets, stars, operators in odd places)
as plain text.  At most MAX_TERMS terms are used.  The raw Whoosh query
language is opt-in (build_raw_query), with unknown field names refused,
parentheses nested at most MAX_NESTING deep, and its wildcards, prefixes and
ranges expanded here (expand_raw_query), at most MAX_EXPANSION terms in all
and under the query's deadline, instead of inside Whoosh's matchers, where
``*`` once became 94,000 terms and 42 seconds of work on Reuters.
"""

from __future__ import annotations

import functools
import logging
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from whoosh import matching, query

from search.planning import ranking
from search.articles import utf8
from search.deadline import Deadline
from search.errors import QueryError
from search.storage.schema import TEXT_FIELD

log = logging.getLogger(__name__)

#: Terms beyond this are ignored: bounds the matchers one query builds.
MAX_TERMS = 256
#: Terms a raw query's wildcards, prefixes and ranges may expand to, in all:
#: Lucene's classic clause limit.  More is a QueryError naming the pattern.
MAX_EXPANSION = 1_024
#: Parentheses a raw query may nest: Whoosh's parser recurses per level and
#: 5,000 levels ended in "maximum recursion depth exceeded".
MAX_NESTING = 32


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
#: Safe-mode tokens: a quoted phrase (maybe negated), or a word.
USER_TOKENS = re.compile(r'(?P<neg>[-+]?)["“”„«»](?P<phrase>[^"“”„«»]*)["“”„«»]?|(?P<word>\S+)')


@dataclass(frozen=True)
class Clause:
    """A word or a phrase as typed, before analysis."""

    text: str
    phrase: bool = False
    negated: bool = False
    required: bool = False


def clean_user_text(text: str) -> str:
    """NFKC-normalised, with control characters turned into spaces."""
    return _CONTROL.sub(" ", unicodedata.normalize("NFKC", text))


@dataclass(frozen=True)
class Token:
    """One piece of safe-mode text: an operator (OR, AND), or a word or
    phrase with what the operators before it made of it."""

    match: re.Match[str]
    operator: str | None = None  # "OR" or "AND"; None for a word or phrase
    negated: bool = False
    required: bool = False


def user_tokens(text: str) -> Iterator[Token]:
    """The tokens of `text` (already cleaned by clean_user_text); NOT is folded into the next one."""
    negate_next = False
    for match in USER_TOKENS.finditer(text):
        word = match.group("word")
        if word in ("OR", "|", "||", "AND", "&&"):
            yield Token(match, operator="OR" if word in ("OR", "|", "||") else "AND")
            continue
        if word == "NOT":
            negate_next = True
            continue
        if word is not None:
            negated = negate_next or (word.startswith("-") and len(word) > 1)
            required = not negated and word.startswith("+") and len(word) > 1
        else:
            negated = negate_next or match.group("neg") == "-"
            required = not negated and match.group("neg") == "+"
        negate_next = False
        yield Token(match, negated=negated, required=required)


def read_user_text(text: str) -> list[list[Clause]]:
    """Split safe-mode text into OR-groups of clauses."""
    groups: list[list[Clause]] = []
    join_next = False
    for token in user_tokens(clean_user_text(text)):
        if token.operator == "OR":
            join_next = bool(groups)
            continue
        if token.operator is not None:
            continue
        word, negated, required = token.match.group("word"), token.negated, token.required
        if word is not None:
            bare = word.lstrip("+-") if len(word) > 1 else word
            # "title:facial" is two words here, not a field name (that is --raw).
            clauses = [Clause(p, negated=negated, required=required) for p in bare.split(":") if p] or [Clause(bare)]
        else:
            clauses = [Clause(token.match.group("phrase"), phrase=True, negated=negated, required=required)]
        for clause in clauses:
            if join_next and not clause.negated and groups and not groups[-1][0].negated and not clause.required:
                groups[-1].append(clause)
            else:
                groups.append([clause])
            join_next = False
    return groups


# -- building the Whoosh query -------------------------------------------------


def _analyze(schema: Any, text: str) -> list[str]:
    analyzer = schema["title"].analyzer
    return [token.text for token in analyzer(text)]


def _clause_query(terms: list[str], boost: float = 1.0) -> query.Query | None:
    """One word (a Term) or a phrase, or a word analysed into several
    ("covid-19"), kept adjacent (a Phrase), on the combined text field."""
    if not terms:
        return None
    if len(terms) == 1:
        return query.Term(TEXT_FIELD, terms[0], boost=boost)
    return query.Phrase(TEXT_FIELD, terms, boost=boost)


@dataclass(frozen=True)
class BuiltQuery:
    positive: list[query.Query]  # a document needs one (or every required one); more rank higher
    negative: list[query.Query]
    words: list[str]  # analysed terms, for highlighting and feedback
    required: frozenset[int] = frozenset()  # indexes into positive typed with +

    @property
    def empty(self) -> bool:
        return not self.positive

    def main(self) -> query.Query:
        """Any of the positive clauses, all of the required ones."""
        must = [q for i, q in enumerate(self.positive) if i in self.required]
        should = [q for i, q in enumerate(self.positive) if i not in self.required]
        optional = (should[0] if len(should) == 1 else query.Or(should)) if should else None
        if not must:
            assert optional is not None
            return optional
        needed = must[0] if len(must) == 1 else query.And(must)
        return query.AndMaybe(needed, optional) if optional is not None else needed


def build_safe_query(schema: Any, text: str) -> BuiltQuery:
    groups: list[list[tuple[Clause, list[str]]]] = []
    budget = MAX_TERMS
    for typed in read_user_text(text):
        analysed = []
        for clause in typed:
            terms = _analyze(schema, clause.text)[:budget]
            budget -= len(terms)
            if terms:
                analysed.append((clause, terms))
        if analysed:
            groups.append(analysed)
        if budget <= 0:
            log.info("query truncated to its first %d terms", MAX_TERMS)
            break
    # A word typed twice is one clause weighing 1 + ln 2, not two clauses.
    weights = ranking.term_weights(t for group in groups for c, terms in group if not c.negated for t in terms)
    positive: list[query.Query] = []
    negative: list[query.Query] = []
    words: list[str] = []
    required: set[int] = set()
    seen: dict[str, int] = {}  # a lone term -> its place in positive
    for group in groups:
        parts: list[query.Query] = []
        for clause, terms in group:
            lone = len(group) == 1 and len(terms) == 1
            if lone and not clause.negated and terms[0] in seen:
                if clause.required:  # "oil price +oil": the oil typed first is now required
                    required.add(seen[terms[0]])
                continue
            built = _clause_query(terms, weights[terms[0]] if lone and not clause.negated else 1.0)
            if built is None:
                continue
            if clause.negated:
                negative.append(built)
            else:
                parts.append(built)
                words.extend(terms)
                if lone:
                    seen[terms[0]] = len(positive)
        if parts:
            if len(group) == 1 and group[0][0].required:
                required.add(len(positive))
            positive.append(parts[0] if len(parts) == 1 else query.Or(parts))
    return BuiltQuery(positive, negative, words, frozenset(required))


#: Fields a raw query may name: the full text, and the exact values.
RAW_FIELDS = (TEXT_FIELD, "title", "topic", "provider", "domain", "year", "kind", "id", "url", "published_flag")
_FIELD_PREFIX = re.compile(r'"[^"]*"|(?<![\w.])([A-Za-z_]\w*):(?!//)')


#: The words Whoosh's BOOLEAN field reads as true and as false.
FLAG_WORDS = frozenset(("t", "true", "yes", "1", "f", "false", "no", "0"))


@functools.cache
def _raw_parser_class() -> type:
    """Whoosh's query parser, refusing a `published_flag:` value that is no
    boolean word: Whoosh reads any other word as bool(word), true, so a typo
    (`published_flag:flase`) would quietly find the opposite of what was
    meant.  Made at the first raw query: only raw queries need Whoosh's
    parser, ~15 ms off a search's start."""
    from whoosh import qparser

    class RawParser(qparser.QueryParser):  # type: ignore[misc]  # Whoosh is untyped
        def term_query(self, fieldname: str, text: str, *args: Any, **kwargs: Any) -> query.Query:
            if fieldname == "published_flag" and text != "*" and text.lower() not in FLAG_WORDS:
                return query.error_query(f"published_flag is true or false (or yes/no, t/f, 1/0), not {text!r}")
            return super().term_query(fieldname, text, *args, **kwargs)

    return RawParser


def build_raw_query(schema: Any, text: str) -> query.Query:
    """Whoosh query language, opt-in; a syntax error or unknown field is a QueryError."""
    fields_hint = f"Fields: {', '.join(RAW_FIELDS)}."
    if not text.isascii() and not utf8(text):  # Whoosh cannot encode its terms: UnicodeEncodeError, a "bug"
        raise QueryError(
            text,
            "it is not valid UTF-8 (the \\udcXX are its bytes that are not)",
            hint="Type the query in UTF-8 (check the terminal's encoding).",  # a plain query is refused too
        )
    depth = _nesting(text)
    if depth > MAX_NESTING:
        raise QueryError(
            text,
            f"its parentheses nest {depth} deep; at most {MAX_NESTING} levels are allowed",
            hint="Remove the extra parentheses, or drop --raw to search the words as typed.",
        )
    # Whoosh's parser reads an unknown `field:` as plain words, so a typo
    # (titel:x) would silently find nothing: check the names first.
    for match in _FIELD_PREFIX.finditer(text):
        name = match.group(1)
        if name is not None and name not in RAW_FIELDS:
            raise QueryError(text, f"unknown field {name!r}", hint=fields_hint)
    parser = _raw_parser_class()(TEXT_FIELD, schema)
    try:
        parsed = parser.parse(text)
    except Exception as exc:  # Whoosh's parser raises assorted types
        raise QueryError(text, str(exc) or type(exc).__name__) from exc
    for node in (parsed, *parsed.leaves()):
        problem = getattr(node, "error", None)
        if problem:
            raise QueryError(text, str(problem))
    return _mend_andnot(parsed)


def _mend_andnot(node: query.Query) -> query.Query:
    """`node` with every ANDNOT executed by _AndNot (see there)."""
    if isinstance(node, query.AndNot):
        return _AndNot(_mend_andnot(node.a), _mend_andnot(node.b))
    return node if node.is_leaf() else node.apply(_mend_andnot)


class _AndNotMatcher(matching.AndNotMatcher):  # type: ignore[misc]
    """Whoosh 2.7.4's AndNotMatcher skips the negative side forward only when it
    starts on the positive side's first document, so one that starts below it
    kept that document (``systems ANDNOT schools`` returned an article saying
    both); and a skip_to past the positive side's last document went on to
    read its id (IndexError, under a filter's intersection).  Here the first
    step is the same as every other one, and an ended positive side ends it."""

    def _find_first(self) -> None:
        self._find_next()  # which stops at once when either side has ended

    def _find_next(self) -> bool:
        return bool(self.a.is_active() and super()._find_next())


class _AndNot(query.AndNot):  # type: ignore[misc]
    def matcher(self, searcher: Any, context: Any = None) -> Any:
        positive = self.a.matcher(searcher, context)
        negative = self.b.matcher(searcher, searcher.boolean_context())
        return _AndNotMatcher(positive, negative)


def _nesting(text: str) -> int:
    """How deep the query's parentheses nest, outside quoted phrases."""
    depth = deepest = 0
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        elif quoted:
            continue
        elif char == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif char == ")":
            depth = max(0, depth - 1)
    return deepest


class Listed(query.MultiTerm):  # type: ignore[misc]  # Whoosh is untyped
    """A raw query's wildcard, prefix or range with its terms listed in
    advance, so that Whoosh's matcher uses them instead of walking the lexicon."""

    def __init__(self, original: Any, btexts: list[bytes]) -> None:
        self.original = original
        self.fieldname = original.fieldname
        self.text = getattr(original, "text", "")
        self.boost = original.boost
        self.constantscore = getattr(original, "constantscore", True)
        self.btexts = btexts

    def _btexts(self, ixreader: Any) -> list[bytes]:
        return [t for t in self.btexts if (self.fieldname, t) in ixreader]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Listed) and other.original == self.original and other.btexts == self.btexts

    def __hash__(self) -> int:
        return hash((Listed, self.fieldname, len(self.btexts)))

    def __str__(self) -> str:
        return str(self.original)

    def __repr__(self) -> str:
        return f"Listed({self.original!r}, {len(self.btexts)} terms)"


def raw_query(schema: Any, text: str, reader: Any, deadline: Deadline) -> query.Query:
    """`text` in Whoosh's query language as search query and alerts run it:
    parsed (build_raw_query), no text meaning every document (text of no
    searchable terms is a QueryError), at most MAX_TERMS terms, and its
    wildcards, prefixes and ranges listed from `reader` (expand_raw_query)."""
    main = build_raw_query(schema, text)
    if main is query.NullQuery or isinstance(main, type(query.NullQuery)):
        if text.strip():
            raise QueryError(text, "it has no searchable terms")
        main = query.Every()
    leaves = sum(1 for _ in main.leaves())
    if leaves > MAX_TERMS:
        raise QueryError(text, f"it has {leaves} terms; at most {MAX_TERMS} are allowed")
    return expand_raw_query(main, reader, deadline, text)


def expand_raw_query(q: query.Query, reader: Any, deadline: Deadline, text: str = "") -> query.Query:
    """`q` with every wildcard, prefix and range replaced by the terms it
    matches in `reader` (Listed), at most MAX_EXPANSION in all (more is a
    QueryError naming the pattern), until `deadline` (then with those listed
    so far: the search is marked timed out).  ``*`` (every term of the full
    text) is every document, without listing its terms."""
    budget = [MAX_EXPANSION]

    def expand(node: Any) -> Any:
        if isinstance(node, query.Every):
            if node.fieldname in (None, TEXT_FIELD):
                return query.Every(boost=node.boost)
            return Listed(node, _listed(node, reader.lexicon(node.fieldname)))
        if isinstance(node, query.MultiTerm):
            return Listed(node, _listed(node, node._btexts(reader)))
        if node.is_leaf():
            return node
        return node.apply(expand)

    def _listed(node: Any, btexts: Any) -> list[bytes]:
        found: list[bytes] = []
        for btext in btexts:
            if deadline.expired():
                break
            if len(found) >= budget[0]:
                what = f"{node} matches" if budget[0] == MAX_EXPANSION else "its wildcards and ranges match"
                raise QueryError(
                    text,
                    f"{what} more than {MAX_EXPANSION:,} terms"
                    f" (the most a raw query's wildcards and ranges may expand to, in all)",
                    hint="Make the pattern longer or the range narrower, or drop --raw to search words.",
                )
            found.append(btext)
        budget[0] -= len(found)
        return found

    return expand(q)
