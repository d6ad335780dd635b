"""A regular expression (ripgrep's syntax) as a query over trigrams: what any text it matches must contain.

After Russ Cox's "Regular Expression Matching with a Trigram Index": each part of the pattern is known by the
strings it matches exactly (when they are few), else by what its matches start and end with, and by what they
must contain. Trigrams are of characters, each in lower case (as the index keeps them: the text in lower
case, then tantivy's n-gram tokenizer), so one index serves case-sensitive and case-insensitive searches; a
case-insensitive letter stands for each of its Unicode case variants (``k``: ``K``, ``k`` and the Kelvin sign).
Only ASCII characters (and those variants) make trigrams: beyond ASCII, Python's and Rust's case tables may
differ by a Unicode version. Whatever the planner does not understand (a syntax it does not know, ``(?x)``,
``(?-u)``) plans nothing: the search reads every file, as without an index.
A plan may let through files that do not match (the search then finds nothing there); it never keeps out one
that does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

GRAM = 3
_MOST = 16  # strings kept in an exact, prefix or suffix set; beyond, the set becomes a condition
_LONGEST = 64  # characters of an exact string; a longer one becomes a condition, its ends kept (``a{1000}{1000}``)
MAX_PLANNED = 1_000  # characters of a pattern planned (~7 ms of the event loop); a longer one reads every file
_META = set("\\.+*?()|[]{}^$#&-~")
_PERL = set("dDsSwW")
_ZERO_WIDTH = set("bBAz<>")
_CONTROL = {"n": "\n", "t": "\t", "r": "\r", "f": "\f", "v": "\v", "a": "\a"}


class Unplannable(Exception):
    """A pattern the planner does not read: search without the index."""


@dataclass(frozen=True)
class Query:
    """All of ``grams`` and, for each group in ``any_of``, one of its queries. No grams and no groups: true."""

    grams: frozenset[str] = frozenset()
    any_of: frozenset[frozenset[Query]] = frozenset()

    @property
    def true(self) -> bool:
        return not self.grams and not self.any_of

    def holds(self, has: Callable[[str], bool]) -> bool:
        """Whether a text may match that holds the trigrams for which ``has`` is true (``grams.holder``)."""
        return all(has(g) for g in self.grams) and all(any(q.holds(has) for q in group) for group in self.any_of)

    def __str__(self) -> str:
        parts = [repr(g) for g in sorted(self.grams)]
        parts += ["(" + " | ".join(sorted(str(q) for q in group)) + ")" for group in self.any_of]
        return " & ".join(parts) or "true"


TRUE = Query()


def both(a: Query, b: Query) -> Query:
    return Query(a.grams | b.grams, a.any_of | b.any_of)


def either(queries: list[Query]) -> Query:
    """One of ``queries``: the grams all of them ask for, and one of what is left of each."""
    if any(q.true for q in queries):
        return TRUE
    unique = frozenset(queries)
    if len(unique) == 1:
        return next(iter(unique))
    common = frozenset.intersection(*(q.grams for q in unique))
    rest = frozenset(Query(q.grams - common, q.any_of) for q in unique)
    if any(q.true for q in rest):
        return Query(common)
    return Query(common, frozenset([rest]))


def of_strings(strings: frozenset[str]) -> Query:
    """A text holding one of ``strings``: for each, all of its trigrams (true if one is shorter than a trigram)."""
    return either([Query(frozenset(fold(s[i : i + GRAM]) for i in range(len(s) - GRAM + 1))) for s in strings])


@dataclass(frozen=True)
class _Info:
    """What is known of the matches of a part of the pattern."""

    exact: frozenset[str] | None  # the strings it matches, all of them (None: too many to keep)
    prefix: frozenset[str]  # every match starts with one of these ({""}: nothing known)
    suffix: frozenset[str]  # every match ends with one of these
    match: Query  # what every match contains besides

    def condition(self) -> Query:
        if self.exact is not None:
            return both(self.match, of_strings(self.exact))
        return both(self.match, both(of_strings(self.prefix), of_strings(self.suffix)))


_EMPTY = frozenset([""])
_ANY = _Info(None, _EMPTY, _EMPTY, TRUE)


def _exact(strings: frozenset[str]) -> _Info:
    return _Info(strings, strings, strings, TRUE)


def _concat(x: _Info, y: _Info) -> _Info:
    if x.exact is not None and y.exact is not None and len(x.exact) * len(y.exact) <= _MOST:
        crossed = _cross(x.exact, y.exact)
        if max(map(len, crossed)) <= _LONGEST:
            return _exact(crossed)
    match = both(x.match, y.match)
    xs, yp = x.exact if x.exact is not None else x.suffix, y.exact if y.exact is not None else y.prefix
    if len(xs) * len(yp) <= _MOST:  # what spans the joint: the ends of x against the starts of y
        match = both(match, of_strings(frozenset(a + b for a in xs for b in yp)))
    else:
        match = both(match, both(of_strings(xs), of_strings(yp)))
    prefix = x.prefix
    if x.exact is not None:  # x's strings then y's starts, or x's strings alone when that makes too many
        prefix = _cross(x.exact, y.prefix) if len(x.exact) * len(y.prefix) <= _MOST else x.exact
    suffix = y.suffix
    if y.exact is not None:
        suffix = _cross(x.suffix, y.exact) if len(x.suffix) * len(y.exact) <= _MOST else y.exact
    prefix, match = _bounded(prefix, match, keep_start=True)
    suffix, match = _bounded(suffix, match, keep_start=False)
    return _Info(None, prefix, suffix, match)


def _cross(a: frozenset[str], b: frozenset[str]) -> frozenset[str]:
    return frozenset(x + y for x in a for y in b)


def _bounded(ends: frozenset[str], match: Query, keep_start: bool) -> tuple[frozenset[str], Query]:
    """Ends kept short (the first or last bytes of a start or end are one too) and few (else a condition)."""
    if len(ends) > _MOST:
        return _EMPTY, both(match, of_strings(ends))
    longest = 2 * GRAM
    if any(len(e) > longest for e in ends):
        match = both(match, of_strings(ends))
        ends = frozenset(e[:longest] if keep_start else e[-longest:] for e in ends)
    return ends, match


def _alternate(x: _Info, y: _Info) -> _Info:
    if x.exact is not None and y.exact is not None and len(x.exact | y.exact) <= _MOST:
        return _exact(x.exact | y.exact)
    prefix = (x.exact if x.exact is not None else x.prefix) | (y.exact if y.exact is not None else y.prefix)
    suffix = (x.exact if x.exact is not None else x.suffix) | (y.exact if y.exact is not None else y.suffix)
    match = either([x.condition(), y.condition()])
    prefix = _EMPTY if "" in prefix or len(prefix) > _MOST else frozenset(p[: 2 * GRAM] for p in prefix)
    suffix = _EMPTY if "" in suffix or len(suffix) > _MOST else frozenset(s[-2 * GRAM :] for s in suffix)
    return _Info(None, prefix, suffix, match)


def _at_least_once(x: _Info) -> _Info:
    """``x+``: its matches start as x's do, end as x's do, and contain one of x's."""
    if x.exact is not None:
        return _Info(None, x.exact, x.exact, of_strings(x.exact))
    return _Info(None, x.prefix, x.suffix, x.match)


def _power(x: _Info, times: int) -> _Info:
    """``x{times}`` for an exact x: exact while its strings stay short; then x repeated k < times times is what
    its matches start with, end with and contain (an empty string repeated is itself)."""
    result = x
    for _ in range(times - 1):
        if result.exact is None or result.exact == _EMPTY:
            break
        result = _concat(result, x)
    return result


def _optional(x: _Info) -> _Info:
    if x.exact is not None and len(x.exact) < _MOST:
        return _exact(x.exact | _EMPTY)
    return _ANY


def fold(text: str) -> str:
    """A trigram as the index keeps it: each character in lower case."""
    return "".join(c.lower() for c in text)


# Characters beyond ASCII that Unicode's case mappings tie to an ASCII letter, one to one (tests derive them
# from Python's tables). The Kelvin sign's lower case is k; the others are lower case of their own.
_BEYOND_ASCII = {"i": "\u0131", "s": "\u017f", "k": "\u212a"}


def _variants(letter: str) -> frozenset[str]:
    """What may match an ASCII letter case-insensitively, each character as the index folds it."""
    return frozenset(fold(c) for c in [letter, letter.swapcase(), *_BEYOND_ASCII.get(letter.lower(), "")])


def _char(ch: str, insensitive: bool) -> _Info:
    if not ch.isascii():
        return _ANY  # beyond ASCII it asks nothing (see above)
    if insensitive and ch.isalpha():
        return _exact(_variants(ch))
    return _exact(frozenset([fold(ch)]))  # strings are kept folded: trigrams of folded characters


def _chars(chars: set[str], insensitive: bool) -> _Info:
    infos = [_char(c, insensitive) for c in chars]
    strings: set[str] = set()
    for info in infos:
        if info.exact is None:
            return _ANY
        strings |= info.exact
    return _exact(frozenset(strings)) if 0 < len(strings) <= _MOST else _ANY


def plan(regex: str) -> Query | None:
    """The query every file holding a match of ``regex`` satisfies; None when it asks nothing (or the pattern is
    longer than MAX_PLANNED, or nested deeper than Python's stack: rg then says what it makes of it)."""
    if len(regex) > MAX_PLANNED:
        return None
    try:
        parser = _Parser(regex)
        info = parser.alternation(insensitive=False)
        if parser.at < len(regex):
            raise Unplannable(f"unexpected {regex[parser.at]!r}")
    except (Unplannable, IndexError, ValueError, OverflowError, RecursionError):
        return None
    query = info.condition()
    return None if query.true else query


class _Parser:
    """A reader of ripgrep's (Rust's regex crate's) syntax, as far as literals go."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.at = 0

    def peek(self, ahead: int = 0) -> str:
        return self.text[self.at + ahead] if self.at + ahead < len(self.text) else ""

    def alternation(self, insensitive: bool) -> _Info:
        branches = []
        while True:
            info, insensitive = self.concatenation(insensitive)
            branches.append(info)
            if self.peek() != "|":
                break
            self.at += 1
        result = branches[0]
        for other in branches[1:]:
            result = _alternate(result, other)
        return result

    def concatenation(self, insensitive: bool) -> tuple[_Info, bool]:
        """The pieces up to ``|`` or ``)``; a ``(?i)`` inside lasts to the group's end (returned for the next
        branch, as Rust has it)."""
        result = _exact(_EMPTY)
        while self.peek() not in ("", "|", ")"):
            if self.text.startswith("(?", self.at) and self._flags_only():
                insensitive = self._set_flags(insensitive)
                continue
            atom = self.atom(insensitive)
            result = _concat(result, self.repeated(atom))
        return result, insensitive

    def repeated(self, atom: _Info) -> _Info:
        while True:
            ch = self.peek()
            if ch in ("*", "?", "+"):
                self.at += 1
                least, most = {"*": (0, None), "?": (0, 1), "+": (1, None)}[ch]
            elif ch == "{":
                least, most = self._counted()
            else:
                return atom
            if self.peek() == "?":
                self.at += 1  # lazy: the same matches
            if least == 0:
                atom = _optional(atom) if most == 1 else _ANY
            elif least == 1 and most == 1:
                continue
            elif most is not None and least == most and atom.exact is not None and len(atom.exact) ** least <= _MOST:
                atom = _power(atom, least)
            else:
                atom = _at_least_once(atom)

    def _counted(self) -> tuple[int, int | None]:
        end = self.text.index("}", self.at)
        inside = self.text[self.at + 1 : end].replace(" ", "")
        self.at = end + 1
        low, comma, high = inside.partition(",")
        least = int(low) if low else 0
        return least, (int(high) if high else None) if comma else least

    def atom(self, insensitive: bool) -> _Info:
        ch = self.peek()
        self.at += 1
        if ch == "(":
            return self._group(insensitive)
        if ch == "[":
            return self._class(insensitive)
        if ch == "\\":
            return self._escape(insensitive)
        if ch == ".":
            return _ANY
        if ch in ("^", "$"):
            return _exact(_EMPTY)
        if ch in ("*", "+", "?", "{", ")"):
            raise Unplannable(f"{ch!r} with nothing to repeat")
        return _char(ch, insensitive)

    def _group(self, insensitive: bool) -> _Info:
        if self.peek() == "?":
            self.at += 1
            if self.peek() in ("P", "<"):  # (?P<name>…) or (?<name>…)
                self.at = self.text.index(">", self.at) + 1
            elif self.peek() == ":":
                self.at += 1
            else:
                end = self.text.index(":", self.at)
                insensitive = _flags(self.text[self.at : end], insensitive)
                self.at = end + 1
        info = self.alternation(insensitive)
        if self.peek() != ")":
            raise Unplannable("unclosed group")
        self.at += 1
        return info

    def _flags_only(self) -> bool:
        """Whether a ``(?`` here is a bare flag setting, ``(?i)``, which applies to the rest of the group."""
        end = self.text.find(")", self.at)
        return end > 0 and all(c.isalpha() or c == "-" for c in self.text[self.at + 2 : end])

    def _set_flags(self, insensitive: bool) -> bool:
        end = self.text.index(")", self.at)
        insensitive = _flags(self.text[self.at + 2 : end], insensitive)
        self.at = end + 1
        return insensitive

    def _escape(self, insensitive: bool) -> _Info:
        ch = self.peek()
        self.at += 1
        if ch in _META or ch in ("/", '"', "'", "!", "%", ",", ":", ";", "<", "=", ">", "@", "_", "`", " "):
            if ch in ("<", ">"):
                return _exact(_EMPTY)  # word boundaries
            return _char(ch, insensitive)
        if ch in _CONTROL:
            return _char(_CONTROL[ch], insensitive)
        if ch in _PERL:
            return _ANY
        if ch in ("p", "P"):
            self._skip_property()
            return _ANY
        if ch in _ZERO_WIDTH:
            if ch in ("b", "B") and self.peek() == "{":
                self.at = self.text.index("}", self.at) + 1
            return _exact(_EMPTY)
        if ch in ("x", "u", "U"):
            return _char(self._code_point(ch), insensitive)
        raise Unplannable(f"escape \\{ch}")

    def _skip_property(self) -> None:
        """Past a Unicode class's name: ``\\p{Greek}`` or ``\\pL``."""
        if self.peek() == "{":
            self.at = self.text.index("}", self.at) + 1
        else:
            self.at += 1

    def _code_point(self, kind: str) -> str:
        if self.peek() == "{":
            end = self.text.index("}", self.at)
            digits, self.at = self.text[self.at + 1 : end], end + 1
        else:
            width = {"x": 2, "u": 4, "U": 8}[kind]
            digits, self.at = self.text[self.at : self.at + width], self.at + width
            if len(digits) != width:
                raise Unplannable("short escape")
        if not digits or not all(c in "0123456789abcdefABCDEF" for c in digits):
            raise Unplannable("bad code point")
        code = int(digits, 16)
        if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            raise Unplannable("not a scalar value")
        return chr(code)

    def _class(self, insensitive: bool) -> _Info:
        """A bracketed class: its characters when it is a few plain ones, else any character."""
        negated = self.peek() == "^"
        self.at += negated
        chars: set[str] = set()
        plain = not negated
        first = True
        while True:
            ch = self.peek()
            if ch == "":
                raise Unplannable("unclosed class")
            self.at += 1
            if ch == "]" and not first:
                break
            first = False
            if ch == "[":  # a nested class or [:name:]: read past it, know nothing of it
                self.at -= 1
                self._skip_nested()
                plain = False
                continue
            if ch in ("&", "-", "~") and self.peek() == ch:
                self.at += 1
                plain = False
                continue
            if ch == "\\":
                literal = self._class_escape()
                if literal is None:
                    plain = False
                    continue
                ch = literal
            if self.peek() == "-" and self.peek(1) not in ("]", ""):
                self.at += 1
                end = self.peek()
                self.at += 1
                if end == "\\":
                    literal = self._class_escape()
                    if literal is None:
                        raise Unplannable("range to a class")
                    end = literal
                elif end == "[":
                    raise Unplannable("range to a class")
                if ord(end) - ord(ch) >= _MOST:
                    plain = False
                    continue
                chars.update(chr(c) for c in range(ord(ch), ord(end) + 1))
                continue
            chars.add(ch)
        return _chars(chars, insensitive) if plain and chars else _ANY

    def _class_escape(self) -> str | None:
        """A class's escaped character (None: a class of its own, ``\\d``, ``\\p{…}``)."""
        ch = self.peek()
        self.at += 1
        if ch in _CONTROL:
            return _CONTROL[ch]
        if ch in ("x", "u", "U"):
            return self._code_point(ch)
        if ch in _PERL:
            return None
        if ch in ("p", "P"):
            self._skip_property()
            return None
        if ch.isalnum():
            raise Unplannable(f"class escape \\{ch}")
        return ch

    def _skip_nested(self) -> None:
        if self.text.startswith("[:", self.at):
            end = self.text.find(":]", self.at + 2)
            if end > 0 and self.text[self.at + 2 : end].replace("^", "").isalpha():
                self.at = end + 2
                return
        self.at += 1
        self._class(False)


def _flags(text: str, insensitive: bool) -> bool:
    on = True
    for c in text:
        if c == "-":
            on = False
        elif c == "i":
            insensitive = on
        elif c == "x" or (c == "u" and not on):
            raise Unplannable(f"flag {c}")
        elif c not in "msURu":
            raise Unplannable(f"unknown flag {c}")
    return insensitive


UTF16_MARKS = (b"\xff\xfe", b"\xfe\xff")


def searched_text(data: bytes) -> str:
    """A file's content as ripgrep searches it, as text: UTF-16 with a byte order mark is decoded as such (rg
    transcodes it by default), anything else as UTF-8 (a byte that is not becomes U+FFFD, which no trigram
    of a plan holds: ASCII bytes stay themselves around it). It ends at the first NUL: rg takes a file with
    one for binary and shows no line from there on (it stops, or reads on only to say the file matches)."""
    if data.startswith(UTF16_MARKS):
        return data.decode("utf-16", "replace").partition("\x00")[0]
    return data.partition(b"\x00")[0].decode("utf-8", "replace")
