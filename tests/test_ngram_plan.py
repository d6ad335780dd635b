"""The trigram planner against ripgrep: every file rg finds a match in satisfies the pattern's plan."""

from __future__ import annotations

import random
import re
import subprocess
import unicodedata
from pathlib import Path

import pytest

from volley.ngram.grams import holder
from volley.ngram.plan import _BEYOND_ASCII, GRAM, _Parser, plan, searched_text
from volley.ripgrep import rg_binary
from volley.tools.grep import escape

ROOT = Path(__file__).resolve().parent.parent
PATTERNS = 500

TRICKY = {  # what case folding, encodings and escapes may hide from a naive planner
    "kelvin.txt": "temperature in \u212aelvin and \u017ftrange ſigns; İstanbul, ıi\n".encode(),
    "utf16.txt": "\ufeffUTF-16 text: needle in a haystack\r\nsecond line\n".encode("utf-16-le"),
    "utf16be.txt": "\ufeffbig endian needle\n".encode("utf-16-be"),
    "bom8.txt": "\ufefffoo at the start\n".encode(),
    "crlf.txt": b"windows line\r\nanother window\r\n",
    "binary.bin": b"\x00\x01header\x00needle\xff\xfe trailing\n",
    "latin.txt": "Straße, café, naïve, ǅemal, Ⓐ and ⓐ\n".encode(),
}
TRICKY_PATTERNS = [
    "(?i)kelvin",
    "(?i)strange signs",
    "(?i)istanbul",
    "(?i)STANBUL, ı",  # after İ, whose lower case is two characters (the index lowers the text, then cuts it)
    "stanbul, ıi",
    "(?i)II",
    "needle in a",
    "(?i)UTF-16 TEXT",
    "big endian",
    "^foo at",
    r"line\r$",
    "window",
    "header",
    r"\x66oo",
    r"\u{2126}|\u{212A}elvin",
    "(?i)STRASSE|straße",
    "(?i)CAFÉ",
    "(?i)ǆemal",
    "(?i)ⓐ and",
    "Ⓐ and ⓐ",
    r"(?i:K)elvin",
    r"na\xefve",
    "[ſs]trange",
    r"[\x{17F}]trange",
]


def _rg_files(pattern: str, where: list[Path]) -> set[str] | None:
    argv = [rg_binary(), "--no-config", "--hidden", "--no-ignore", "--files-with-matches", "--regexp", pattern]
    done = subprocess.run([*argv, "--", *map(str, where)], capture_output=True)
    if done.returncode == 2:
        return None  # rg does not take the pattern
    return set(done.stdout.decode("utf-8", "surrogateescape").splitlines())


def _patterns(texts: list[str], rng: random.Random, count: int) -> list[str]:
    """Patterns drawn from real text: literals, escaped fixed strings, case-folded words, alternations,
    classes, gaps, boundaries, repetitions, escapes."""
    words = sorted({w for t in texts for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]{2,}", t)})
    lines = [line for t in texts for line in t.splitlines() if len(line.strip()) > 8]
    found: list[str] = []

    def word() -> str:
        return rng.choice(words)

    def piece() -> str:
        line = rng.choice(lines)
        start = rng.randrange(len(line))
        return line[start : start + rng.randint(3, 24)]

    def mixed_case(text: str) -> str:
        return "".join(c.upper() if rng.random() < 0.5 else c.lower() for c in text)

    def classed(text: str) -> str:
        i = rng.randrange(len(text))
        c = text[i]
        if not c.isalnum():
            return escape(text)
        kind = rng.choice([f"[{c.lower()}{c.upper()}]", "[a-z]", "[^\\n]", "[[:alnum:]]", "\\w", "[0-9a-fA-F]"])
        return escape(text[:i]) + kind + escape(text[i + 1 :])

    makers = [
        lambda: escape(word()),
        lambda: escape(piece()),
        lambda: "(?i)" + escape(mixed_case(word())),
        lambda: "(?i)" + escape(mixed_case(piece())),
        lambda: f"{escape(word())}|{escape(word())}",
        lambda: f"({escape(word())}|{escape(word())})\\(",
        lambda: classed(word()),
        lambda: classed(piece()),
        lambda: f"{escape(word())}.*{escape(word())}",
        lambda: f"{escape(word())}\\s+{escape(word())}",
        lambda: f"\\b{escape(word())}\\b",
        lambda: f"^\\s*(def|class) {escape(word())}",
        lambda: escape(word()) + "\\w*",
        lambda: re.sub(r"([a-z])\1", r"\1{2}", word()),
        lambda: re.sub(r"([aeiou])", r"\1?", word(), count=1),
        lambda: "".join(f"\\x{ord(c):02x}" if c.isalpha() and rng.random() < 0.3 else c for c in word()),
        lambda: f"(?i:{escape(word())})[({{]",
        lambda: f"{escape(word())}(?:_[a-z]+)+",
        lambda: f"{escape(word()[:3])}.{escape(word()[-3:])}",
        lambda: escape(word()) + "{1,3}",
    ]
    while len(found) < count:
        found.append(rng.choice(makers)())
    return found


def test_every_file_rg_matches_satisfies_the_plan(tmp_path: Path) -> None:
    for name, data in TRICKY.items():
        (tmp_path / name).write_bytes(data)
    where = [ROOT / "volley", ROOT / "tests", tmp_path]
    files = [p for base in where for p in base.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    held = {str(p): holder(p.read_bytes()) for p in files}
    texts = [p.read_text("utf-8", "replace") for p in files if p.suffix in (".py", ".md", ".txt")]
    patterns = TRICKY_PATTERNS + _patterns(texts, random.Random(31), PATTERNS)
    checked = planned = 0
    for pattern in patterns:
        matched = _rg_files(pattern, where)
        if matched is None:
            continue
        query = plan(pattern)
        checked += 1
        if query is None:
            continue
        planned += 1
        missed = sorted(f for f in matched if not query.holds(held.get(f, lambda gram: False)))
        assert not missed, f"{pattern!r}: the plan {query} keeps out {missed}"
    assert checked >= PATTERNS * 0.9 and planned >= checked * 0.6, (checked, planned)


@pytest.mark.parametrize(
    "pattern",
    ["\\w+", ".", "a", "ab", "[a-z]+", "(?x)some thing", "(?-u:\\xff)abc", "foo|x", "\\d{3}-\\d{4}", "(?i)ⓐⓑⓒ"],
)
def test_a_pattern_with_no_usable_trigram_plans_nothing(pattern: str) -> None:
    assert plan(pattern) is None


@pytest.mark.parametrize(
    "pattern",
    [
        "alpha|" + "z" * 300_000,  # a line far over the planner's length (14.8 s of a grep's loop, unbounded)
        "(" * 495 + "a" + ")" * 495,  # a RecursionError was "Error executing tool grep", not rg's "nested too deep"
    ],
)
def test_a_pattern_too_long_or_too_deep_to_plan_plans_nothing(pattern: str) -> None:
    assert plan(pattern) is None


def test_a_counted_repetition_is_planned_in_bounded_space() -> None:
    """``a{1000}{1000}`` was one exact string of a million characters (and one more ``{1000}`` a billion, in
    a grep's event loop, before rg refused the pattern for its size): strings stay short, the grams the same."""
    info = _Parser("xa{1000}{1000}y").alternation(insensitive=False)
    assert info.exact is None and max(len(s) for s in info.prefix | info.suffix) <= 2 * GRAM
    assert str(info.condition()) == "'aaa' & 'aay' & 'xaa'"
    assert str(plan("(?:){1000000000}abc")) == "'abc'"  # the empty string repeated is itself, at once
    assert str(plan("(ab|cd){3}")) == str(plan("(ab|cd)(ab|cd)(ab|cd)"))  # exact while the strings are few


def test_a_literal_plans_its_trigrams_and_a_class_its_few_characters() -> None:
    assert str(plan("def run")) == "' ru' & 'def' & 'ef ' & 'f r' & 'run'"
    assert str(plan("[Tt]his")) == "'his' & 'thi'"  # folded: one gram for both
    query = plan("(?i)ask")
    assert query is not None and query.holds(holder("AS\u212a".encode())) and not query.holds(holder(b"asx"))


def test_case_variants_beyond_ascii_are_those_of_pythons_tables() -> None:
    tied: dict[str, set[str]] = {}
    for code in range(0x80, 0x110000):
        ch = chr(code)
        if unicodedata.category(ch) == "Cs":
            continue
        for form in (ch.lower(), ch.upper(), ch.casefold(), ch.title()):
            if len(form) == 1 and form.isascii() and form.isalpha():
                tied.setdefault(form.lower(), set()).add(ch)
    assert all(chars <= set(_BEYOND_ASCII[letter]) for letter, chars in tied.items()), tied


def test_utf16_with_a_byte_order_mark_is_searched_as_text() -> None:
    assert searched_text("\ufeffneedle".encode("utf-16-le")) == "needle"
    assert searched_text("\ufeffneedle".encode("utf-16-be")) == "needle"
    assert searched_text(b"\xff plain") == "\ufffd plain"
