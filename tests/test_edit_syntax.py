"""An edit's syntax check parses only the statements around the change when it can: its verdict must be the
whole file's parse, every time (the oracle: the same check with no earlier state)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from volley.edits import syntax

SOURCES = [p for p in sorted((Path(__file__).parent.parent / "volley").rglob("*.py")) if p.stat().st_size][:40]
SNIPPETS = ["else:\n    pass\n", "\n", "(", ")", "\\\n", '"""', "'", "    ", "if x:\n", "x = 1\n", "def f():\n"]
SNIPPETS += ["    return 1\n", "#", "elif y:\n    z = 2\n", ":", "\t", "except E:\n    pass\n", "@dec\n", "]"]


def _mutated(text: str, rng: random.Random) -> str:
    lines = text.splitlines(keepends=True) or ["\n"]
    i = rng.randrange(len(lines))
    line, op = lines[i], rng.random()
    if op < 0.4:  # a letter changed: usually still valid
        letters = [k for k, c in enumerate(line) if c.isalpha()]
        if letters:
            k = rng.choice(letters)
            lines[i] = line[:k] + rng.choice("abxyz") + line[k + 1 :]
    elif op < 0.55:
        lines.insert(i, lines[rng.randrange(len(lines))])
    elif op < 0.65:
        lines.insert(i, rng.choice(SNIPPETS))
    elif op < 0.75:
        del lines[i]
    else:
        j = rng.randrange(len(line) + 1)
        lines[i] = line[:j] + rng.choice(SNIPPETS) + line[j:] if op < 0.88 else line[:j] + line[j + 1 :]
    return "".join(lines)


@pytest.mark.parametrize("seed", range(3))
def test_the_verdict_after_a_chain_of_edits_is_the_whole_files(seed: int) -> None:
    rng = random.Random(seed)
    windowed = checks = 0
    for source in SOURCES:
        text, key = source.read_text(), f"{source}#{seed}"
        syntax.syntax_problem("a.py", text, key)
        for _ in range(12):
            new = _mutated(text, rng)
            got = syntax.syntax_problem("a.py", new, key)
            assert got == syntax.syntax_problem("a.py", new), (source, new)
            windowed += got is None and _windowed(key)
            checks += 1
            text = new if got is None or rng.random() < 0.5 else text
            syntax.syntax_problem("a.py", text, key)
    assert windowed > checks // 10  # the cheap way was taken, and agreed


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("x = 1\ny = 2\n", "x = 1y = 2\n"),  # the newline ending the changed statement removed
        ("if a:\n    b = 1\nc = 2\n", "if a:\n    b = 1\nelse:\n    b = 2\nc = 2\n"),  # a clause after an `if`
        ("x = 1\ny = 2\nz = 3\n", "x = 1\ny = 2 + \\\nz = 3\n"),  # a continuation into the next statement
        ("x = 1\ny = 2\nz = 3\n", 'x = 1\ny = """\nz = 3\n'),  # a string left open
        ("def f():\n    return 1\nx = 2\n", "def f():\n    return 1\n    x = 2\n"),  # indented into the function
        ("x = 1\ny = 2\n", "x = 1\ny = 2"),  # the final newline removed
    ],
)
def test_a_change_at_a_statements_edge_is_judged_with_its_neighbours(before: str, after: str) -> None:
    key = f"edge:{before!r}:{after!r}"
    assert syntax.syntax_problem("a.py", before, key) is None
    assert syntax.syntax_problem("a.py", after, key) == syntax.syntax_problem("a.py", after)


def _windowed(key: str) -> bool:
    """Whether the file's last check left statement offsets without a tree (the window's mark)."""
    kept = syntax._KEPT.get((key, "python"))
    return kept is not None and kept.tree is None


def test_source_too_deeply_nested_for_pythons_parser_is_a_problem_named_not_a_crash() -> None:
    """20,000 nested lambdas overflow the parser's stack: a MemoryError, which failed the whole edit as an error of
    Volley's own."""
    text = "y = " + "lambda: " * 20_000 + "1\ndef h(:\n"
    problem = syntax.syntax_problem("a.py", text)
    assert problem is not None and "too complex" in problem.message
