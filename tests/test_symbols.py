"""outline, find_symbol, find_references and repo_map over a real `volley serve`, in six languages."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import serve, settle, text_of, write

pytestmark = pytest.mark.anyio

PYTHON = '''\
import functools


@functools.cache
class Shop(Base):
    """Sells things. Never call checkout() from here."""

    def checkout(self, cart,
                 coupon=None) -> int:  # the total
        def discount(total):
            return total
        return discount(len(cart))


async def checkout_all(shops):
    # checkout every shop
    return [s.checkout([]) for s in shops]
'''
SOURCES = {
    "web/app.ts": "export interface Cart { items: string[] }\nexport class Store {\n"
    "  checkout(cart: Cart): number {\n    return cart.items.length;\n  }\n}\n"
    "export const total = (a: number, b: number): number => a + b;\n",
    "web/view.jsx": "function Button(props) {\n  return props.label;\n}\n",
    "svc/main.go": "package main\n\ntype Store struct{}\n\nfunc (s *Store) Checkout(n int) int {\n\treturn n\n}\n",
    "core/src/lib.rs": "pub struct Store;\n\nimpl Store {\n    pub fn checkout(&self) -> u32 {\n        0\n    }\n}\n",
    "java/Store.java": "public class Store {\n    public int checkout(int n) {\n        return n;\n    }\n}\n",
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write(tmp_path, "shop.py", PYTHON)
    for rel, text in SOURCES.items():
        write(tmp_path, rel, text)
    write(tmp_path, ".gitignore", "build/\n")
    write(tmp_path, "build/generated.py", "def checkout():\n    pass\n")
    write(tmp_path, "notes.md", "checkout\n")
    return tmp_path


async def test_outline_of_a_file_nests_definitions_with_lines_and_signatures(project: Path) -> None:
    async with serve(project) as client:
        result = await client.call_tool("outline", {"path": "shop.py"})
    symbols = [
        (s["line"], s["end_line"], s["kind"], s["depth"], s["signature"])
        for s in result.structured_content["files"][0]["symbols"]
    ]
    assert symbols == [
        (5, 12, "class", 0, "class Shop(Base)"),  # the class line, not the decorator's
        (8, 12, "method", 1, "def checkout(self, cart, coupon=None) -> int"),  # comment left out, one line
        (10, 11, "function", 2, "def discount(total)"),
        (15, 17, "function", 0, "async def checkout_all(shops)"),
    ]
    assert "  8-12 def checkout(self, cart, coupon=None) -> int" in text_of(result)


async def test_outline_of_a_file_in_another_language_says_so_and_what_to_use(project: Path) -> None:
    async with serve(project) as client:
        result = await client.call_tool("outline", {"path": "notes.md"})
    assert result.is_error and "not supported for outline" in text_of(result) and "grep" in text_of(result)


async def test_outline_of_a_directory_pages_by_file_and_honours_ignore_rules(project: Path) -> None:
    for i in range(30):
        write(
            project, f"pkg/mod{i:02}.py", "".join(f"def function_number_{n}(argument):\n    pass\n" for n in range(10))
        )
    async with serve(project, "--set", "limits.answer_chars=2000") as client:
        pages = [(await client.call_tool("outline", {"path": "."})).structured_content]
        while pages[-1]["next_offset"] is not None and len(pages) < 50:
            args = {"path": ".", "offset": pages[-1]["next_offset"]}
            pages.append((await client.call_tool("outline", args)).structured_content)
    paths = [f["path"] for page in pages for f in page["files"]]
    assert len(pages) > 2 and pages[-1]["next_offset"] is None
    # every file once, in order; build/ is ignored; notes.md is not code
    assert paths == sorted(["shop.py", *SOURCES, *(f"pkg/mod{i:02}.py" for i in range(30))])
    assert all(len(page["files"][0]["symbols"]) == 10 for page in pages if page["files"][0]["path"].startswith("pkg"))


@pytest.mark.parametrize(
    ("name", "kind", "expected"),
    [
        (
            "checkout",
            None,
            [
                "core/src/lib.rs:4 Store.checkout",
                "java/Store.java:2 Store.checkout",
                "shop.py:8 Shop.checkout",
                "web/app.ts:3 Store.checkout",
            ],
        ),
        ("Checkout", None, ["svc/main.go:5 Store.Checkout"]),  # exact case; a Go method's receiver is its scope
        ("Shop.checkout", None, ["shop.py:8 Shop.checkout"]),
        ("checkout*", "function", ["shop.py:15 checkout_all"]),
        ("Store", "struct", ["core/src/lib.rs:1 Store", "svc/main.go:3 Store"]),
        ("total", None, ["web/app.ts:7 total"]),
        ("Button", None, ["web/view.jsx:1 Button"]),
        ("Cart", "interface", ["web/app.ts:1 Cart"]),
    ],
)
async def test_find_symbol_finds_definitions_in_every_language(
    project: Path, name: str, kind: str | None, expected: list[str]
) -> None:
    async with serve(project) as client:
        result = await client.call_tool("find_symbol", {"name": name, **({"kind": kind} if kind else {})})
    hits = result.structured_content["hits"]
    assert [f"{h['path']}:{h['line']} {h['qualified']}" for h in hits] == expected


async def test_find_symbol_with_body_returns_the_numbered_definition(project: Path) -> None:
    async with serve(project) as client:
        result = await client.call_tool("find_symbol", {"name": "discount", "include_body": True})
    hit = result.structured_content["hits"][0]
    assert hit["qualified"] == "Shop.checkout.discount"
    assert hit["body"] == "    10\t        def discount(total):\n    11\t            return total"


async def test_find_symbol_rejects_text_that_is_not_a_name(project: Path) -> None:
    async with serve(project) as client:
        text = await client.call_tool("find_symbol", {"name": "def checkout("})
        kind = await client.call_tool("find_symbol", {"name": "Shop", "kind": "klass"})
    assert text.is_error and "give an identifier" in text_of(text)
    assert kind.is_error and "kind 'klass': one of class" in text_of(kind)


async def test_find_references_leaves_out_strings_and_comments_and_names_the_caller(project: Path) -> None:
    async with serve(project) as client:
        result = await client.call_tool("find_references", {"name": "checkout", "path": "shop.py"})
    data = result.structured_content
    uses = [(u["line"], u["enclosing"], u["definition"]) for f in data["files"] for u in f["uses"]]
    # line 6 (a docstring) and line 16 (a comment) name it only as text
    assert uses == [(8, "Shop", True), (17, "checkout_all", False)]
    assert data["in_text"] == 2


async def test_find_references_pages_through_uses(tmp_path: Path) -> None:
    write(tmp_path, "a.py", "def f():\n    pass\n" + "f()\n" * 30)
    async with serve(tmp_path) as client:
        first = (await client.call_tool("find_references", {"name": "f", "max_results": 20})).structured_content
        rest = (await client.call_tool("find_references", {"name": "f", "offset": 20})).structured_content
    assert (first["total_uses"], first["next_offset"], rest["next_offset"]) == (31, 20, None)
    lines = [u["line"] for page in (first, rest) for f in page["files"] for u in f["uses"]]
    assert lines == list(range(1, 2)) + list(range(3, 33))


async def test_repo_map_ranks_what_is_used_most_and_follows_an_edit(tmp_path: Path) -> None:
    write(tmp_path, "core.py", "def used_everywhere():\n    pass\n\n\ndef used_once():\n    pass\n")
    for i in range(5):
        write(tmp_path, f"m{i}.py", "from core import used_everywhere\n\n\ndef run():\n    used_everywhere()\n")
    write(tmp_path, "z.py", "def caller():\n    used_once()\n")
    async with serve(tmp_path) as client:
        before = (await client.call_tool("repo_map", {})).structured_content
        write(tmp_path, "core.py", "def renamed_helper():\n    pass\n\n\ndef used_once():\n    pass\n")
        for i in range(5):
            write(tmp_path, f"m{i}.py", f"def run():\n    renamed_helper()\n    # {i}\n")
        after = (await client.call_tool("repo_map", {})).structured_content

    def first(data: dict) -> tuple[str, list[str]]:
        return data["files"][0]["path"], [s["name"] for s in data["files"][0]["symbols"]]

    assert first(before) == ("core.py", ["used_everywhere", "used_once"])
    assert first(after) == ("core.py", ["renamed_helper", "used_once"])
    assert before["tokens"] <= before["max_tokens"]


async def test_repo_map_stays_within_the_answer_limit_whatever_max_tokens_asks(tmp_path: Path) -> None:
    write(tmp_path, "lib.py", "".join(f"def helper_number_{i}(value):\n    pass\n\n\n" for i in range(300)))
    write(tmp_path, "use.py", "".join(f"helper_number_{i}(1)\n" for i in range(300)))
    async with serve(tmp_path, "--set", "limits.answer_chars=2000", structured=False) as client:
        text = text_of(await client.call_tool("repo_map", {"max_tokens": 20000}))
    assert len(text) <= 2000 and "answer cut" not in text and "helper_number_" in text


async def test_a_file_rewritten_within_one_timestamp_is_read_again(tmp_path: Path) -> None:
    """Same size, same mtime (`cp -p`, `touch -r`, tar, rsync -t): the ctime tells the rewrite apart, whether
    the file was written just before the server started or long before (settled: its stat is trusted)."""
    path = write(tmp_path, "m.py", "def aaa():\n    pass\n")
    settle(path)
    stamp = path.stat().st_mtime_ns
    async with serve(tmp_path) as client:
        first = (await client.call_tool("outline", {"path": "m.py"})).structured_content
        path.write_text("def bbb():\n    pass\n")
        os.utime(path, ns=(stamp, stamp))
        second = (await client.call_tool("outline", {"path": "m.py"})).structured_content
    assert [s["name"] for s in first["files"][0]["symbols"]] == ["aaa"]
    assert [s["name"] for s in second["files"][0]["symbols"]] == ["bbb"]


async def test_a_file_too_large_to_parse_is_named_with_what_to_use_instead(tmp_path: Path) -> None:
    write(tmp_path, "bundle.js", "function f(){return 1}\n" * 100_000)  # 2.3 MB: a minified bundle's size
    write(tmp_path, "app.js", "function g() {\n  return f();\n}\n")
    async with serve(tmp_path, structured=False) as client:
        outline = await client.call_tool("outline", {"path": "bundle.js"})
        symbol = await client.call_tool("find_symbol", {"name": "f"})
        uses = await client.call_tool("find_references", {"name": "f"})
    assert outline.is_error and "over the 2.0 MiB the symbol tools parse" in text_of(outline)
    assert "[not parsed, over 2.0 MiB: bundle.js; grep them]" in text_of(symbol)
    assert "app.js" in text_of(uses) and "[not parsed, over 2.0 MiB: bundle.js; grep them]" in text_of(uses)


async def test_a_fifo_named_like_source_is_refused_without_hanging(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.py")
    write(tmp_path, "real.py", "def real():\n    pass\n")
    async with serve(tmp_path) as client:
        outline = await client.call_tool("outline", {"path": "pipe.py"})
        everything = await client.call_tool("outline", {"path": "."})
    assert outline.is_error and "not a regular file" in text_of(outline)
    assert [f["path"] for f in everything.structured_content["files"]] == ["real.py"]


async def test_a_name_in_the_wrong_case_or_scope_gets_what_exists(project: Path) -> None:
    async with serve(project) as client:
        case = (await client.call_tool("find_symbol", {"name": "shop"})).structured_content
        scope = (await client.call_tool("find_symbol", {"name": "Store.CHECKOUT"})).structured_content
        nothing = (await client.call_tool("find_symbol", {"name": "absent_everywhere"})).structured_content
    assert case["hits"] == [] and case["near"] == ["Shop (shop.py:5)"]
    assert "Store.Checkout (svc/main.go:5)" in scope["near"]
    assert scope["near"][:4] == sorted(scope["near"][:4], key=lambda n: not n.startswith("Store."))  # scope first
    assert nothing["near"] == []


async def test_a_new_server_takes_symbols_kept_on_disk_while_the_stat_holds(tmp_path: Path) -> None:
    """Every session starts a server: the second one reads a file's symbols from disk, not the file.

    The stored row is edited to name another function, so the answer shows where the symbols came from;
    with symbols_on_disk off, or once the file is rewritten with its old mtime put back (`cp -p`, `touch
    -r`: the ctime moves), the file is parsed again.
    """
    ws, cache = tmp_path / "ws", tmp_path / "cache"
    path = write(ws, "m.py", "def aaa():\n    pass\n")
    settle(path)

    async def names(*extra: str) -> list[str]:
        async with serve(ws, *extra, env={"VOLLEY_CACHE_DIR": str(cache)}) as client:
            result = await client.call_tool("outline", {"path": "m.py"})
        return [s["name"] for s in result.structured_content["files"][0]["symbols"]]

    assert await names() == ["aaa"]
    (db,) = cache.glob("symbols-*.sqlite3")
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE files SET defs = replace(defs, 'aaa', 'zzz')")
    assert await names() == ["zzz"]  # from disk: the stat is the same
    assert await names("--set", "symbols_on_disk=false") == ["aaa"]
    stamp = path.stat().st_mtime_ns
    path.write_text("def bbb():\n    pass\n")
    os.utime(path, ns=(stamp, stamp))
    assert await names() == ["bbb"]


def test_symbols_stored_by_other_code_are_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The database is stamped with what extraction depends on (its code, queries, grammar versions)."""
    from volley.symbols import disk
    from volley.symbols.extract import SymbolCache

    path = write(tmp_path, "m.py", "class A:\n    def f(self):\n        pass\n")
    monkeypatch.setattr("volley.symbols.extract.too_fresh", lambda st: False)  # (a ctime cannot be set back)
    monkeypatch.setenv("VOLLEY_CACHE_DIR", str(tmp_path / "cache"))
    writer = SymbolCache(disk=disk.DiskSymbols(str(tmp_path)))
    parsed = writer.get(str(path), "python", with_names=True)
    writer.save()
    again = SymbolCache(disk=disk.DiskSymbols(str(tmp_path)))
    assert again.get(str(path), "python", with_names=True) == parsed and again.parsed == 0
    monkeypatch.setattr(disk, "stamp", lambda: "another version")
    other = SymbolCache(disk=disk.DiskSymbols(str(tmp_path)))
    assert other.get(str(path), "python", with_names=True) == parsed and other.parsed == 1


async def test_symbols_work_when_the_cache_directory_cannot_be_made(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    write(ws, "m.py", "def aaa():\n    pass\n")
    blocked = write(tmp_path, "not-a-directory", "x")
    async with serve(ws, env={"VOLLEY_CACHE_DIR": str(blocked / "sub")}) as client:
        found = await client.call_tool("find_symbol", {"name": "aaa"})
    assert found.structured_content["total"] == 1
