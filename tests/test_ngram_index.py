"""grep through the content index answers exactly as reading every file: over patterns drawn from a real tree,
and after each of a random sequence of edits, creations, deletions, renames and same-size rewrites."""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path

import pytest

from tests.conftest import serve, settle, text_of, write
from tests.test_ngram_plan import TRICKY, TRICKY_PATTERNS, _patterns
from tests.test_stdio import _call, _handshaken, logged_until
from volley.errors import VolleyError
from volley.ngram import content
from volley.ngram.content import ContentIndex, content_index
from volley.ngram.plan import plan
from volley.ngram.store import Store
from volley.ngram.table import DIRECT, RACY, Table
from volley.tools import grep as grep_tool
from volley.workspace import Workspace

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def tree(project: Path) -> Path:
    """The shared project (ignore rules, secrets, links, a binary), Volley's own source and tricky encodings."""
    shutil.copytree(ROOT / "volley", project / "lib", ignore=shutil.ignore_patterns("__pycache__"))
    for name, data in TRICKY.items():
        write(project, f"enc/{name}", data)
    return project


async def answer(ws: Workspace, pattern: str, **args: object) -> object:
    try:
        result = await grep_tool.grep(ws, pattern=pattern, max_results=100_000, **args)  # type: ignore[arg-type]
    except VolleyError as exc:
        return f"error: {exc}"
    return result.model_dump()


@pytest.mark.slow  # (a long one: make test-slow, which CI runs too)
async def test_grep_through_the_index_answers_as_reading_every_file(tree: Path) -> None:
    indexed = Workspace(tree, flags={"grep_index": "eager"})
    plain = Workspace(tree, flags={"grep_index": "off"})
    texts = [p.read_text("utf-8", "replace") for p in (tree / "lib").rglob("*.py")]
    patterns = TRICKY_PATTERNS + _patterns(texts, random.Random(7), 150) + ["hello", "API_KEY", "PNG", "."]
    options = ({"path": "lib/tools"}, {"glob": "*.py"}, {"case_insensitive": True}, {"fixed_string": True})
    for n, pattern in enumerate(patterns):  # each pattern as it is and with one option in turn
        for args in ({}, options[n % len(options)], options[(n + 1) % len(options)]):
            assert await answer(indexed, pattern, **args) == await answer(plain, pattern, **args), (pattern, args)
    index = content_index(indexed, 0)
    assert index is not None and index.state == "ready", index and index.status()
    assert " MB on disk, built in " in index.status()  # (the log's line once it is ready)
    files = grep_tool.visible_files(indexed, indexed.resolve("."))
    query = plan("def narrowed")
    assert query is not None and len(index.narrowed(files, query) or files) < len(files) / 10


async def test_a_binary_file_is_taken_in_to_its_first_nul_and_answers_stay_rgs(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """rg shows nothing of a file past its first NUL byte: the index keeps the text before it, so a large
    binary (a shared object of 37 MB) is no longer searched at every grep, and a large text file still is."""
    monkeypatch.setattr(content, "MAX_BYTES", 8 * content.BINARY_PEEK)  # (files of 32 MB: a slower test)
    peek = b"x" * 100 + b"\n"
    past_max = peek * (content.MAX_BYTES // len(peek) + 1)
    write(tree, "bin/small.so", b"\x7fELF needle_before\n\x00 needle_after\n")
    write(tree, "bin/large.so", b"\x7fELF needle_before\n\x00" + past_max + b"needle_after\n")
    write(tree, "bin/late.dat", b"needle_before\n" + peek * 2000 + b"\x00 needle_after\n")  # NUL past a buffer
    write(tree, "bin/large.txt", past_max + b"needle_before needle_after\n")
    settle(tree / "bin/large.txt")  # (a file read while too fresh is searched directly until read again)
    indexed = Workspace(tree, flags={"grep_index": "eager"})
    plain = Workspace(tree, flags={"grep_index": "off"})
    for pattern in ("needle_before", "needle_after", "ELF needle", "needle_(before|after)"):
        for args in ({}, {"path": "bin"}, {"output_mode": "files"}):
            assert await answer(indexed, pattern, **args) == await answer(plain, pattern, **args), (pattern, args)
    index = content_index(indexed, 0)
    assert index is not None and index.state == "ready"
    assert "bin/large.txt" in index._table.direct and "bin/large.so" not in index._table.direct
    query = plan("needle_after")
    assert query is not None and index.narrowed(["bin/small.so", "bin/large.so", "bin/late.dat"], query) == []


async def test_a_grep_after_each_change_sees_it(tree: Path) -> None:
    indexed = Workspace(tree, flags={"grep_index": "eager"})
    plain = Workspace(tree, flags={"grep_index": "off"})
    rng = random.Random(29)
    await answer(indexed, "warm the index")
    tokens: list[str] = []
    for step in range(40):
        token = f"tok{step}en{rng.randrange(10**6)}"
        tokens.append(token)
        victim = rng.choice(sorted((tree / "lib").rglob("*.py")))
        action = rng.choice(["append", "create", "delete", "rename", "same-size", "ignore", "root"])
        _change(tree, victim, action, token, step)
        for pattern in (token, rng.choice(tokens), "fed ", "def narrowed"):
            assert await answer(indexed, pattern) == await answer(plain, pattern), (step, action, pattern)


def _change(tree: Path, victim: Path, action: str, token: str, step: int) -> None:
    if action == "append":
        with victim.open("a") as f:
            f.write(f"# {token}\n")
    elif action == "create":
        write(tree, f"lib/new/{token}.py", f"X = '{token}'\n")
    elif action == "root":  # a file at the root, whose directory the walk names with its slash
        with (tree / "top.py").open("a") as f:
            f.write(f"# {token}\n")
    elif action == "delete":
        victim.unlink()
    elif action == "rename":
        victim.rename(victim.with_name(f"moved_{step}.py"))
    elif action == "same-size":  # the same size, the old mtime put back: only the ctime (or an event) tells
        st = victim.stat()
        data = victim.read_bytes()
        victim.write_bytes(data.replace(b"def ", b"fed ", 1) if b"def " in data else data[::-1])
        os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))
    else:  # a file the rules hide: never in an answer
        write(tree, f"lib/gen_{step}.log", f"{token}\n")


async def test_a_server_greps_through_its_index_and_a_new_one_starts_from_disk(tree: Path) -> None:
    write(tree, ".volley.toml", 'grep_index = "eager"\n')
    async with serve(tree) as client:
        first = text_of(await client.call_tool("grep", {"pattern": "def narrowed", "output_mode": "files"}))
        write(tree, "lib/late.py", "def narrowed_late():\n    pass\n")
        second = text_of(await client.call_tool("grep", {"pattern": "def narrowed", "output_mode": "files"}))
    assert "lib/late.py" not in first and "lib/late.py" in second
    stores = list(Path(os.environ["VOLLEY_CACHE_DIR"]).glob("ngram-*/table"))
    assert stores, "the index is kept on disk"
    (tree / "lib/late.py").unlink()
    async with serve(tree) as client:
        third = text_of(await client.call_tool("grep", {"pattern": "def narrowed", "output_mode": "files"}))
    assert "lib/late.py" not in third and "lib/ngram/content.py" in third


async def test_a_file_read_while_too_fresh_is_searched_until_taken_in_again(tree: Path) -> None:
    """A second write in the same clock tick can keep every field of a stat key: a file the index read within
    RACY_NS of its last change is searched directly, whatever the index holds of it."""
    for settled in (tree, tree / "lib", tree / "lib/tools", tree / "lib/tools/grep.py"):
        settle(settled)  # (a file below a directory changed during the build is searched directly too)
    write(tree, "lib/ngram/fresh.py", "X = 'alpha'\n")
    indexed = Workspace(tree, flags={"grep_index": "eager"})
    await answer(indexed, "start the index")
    index = content_index(indexed, 0)
    query = plan("beta_gamma_delta")
    assert index is not None and query is not None
    assert index.narrowed(["lib/ngram/fresh.py", "lib/tools/grep.py"], query) == ["lib/ngram/fresh.py"]


@pytest.mark.parametrize("cap", [65536, 3])
async def test_a_server_following_inotify_events_sees_each_change(tree: Path, cap: int) -> None:
    """Through a server, whose watches follow the tree (content changes are events too; with a cap of 3, most
    directories are proven by stat instead): the index's answers equal those of a server that reads every
    file, after each change of a random sequence."""
    rng = random.Random(43)
    indexing = ["--set", "grep_index=eager", "--set", f"watch_max_directories={cap}"]
    async with serve(tree, *indexing) as indexed, serve(tree, "--set", "grep_index=off") as plain:

        async def both(pattern: str) -> tuple[str, str]:
            args = {"pattern": pattern, "output_mode": "files", "max_results": 100_000}
            return text_of(await indexed.call_tool("grep", args)), text_of(await plain.call_tool("grep", args))

        await both("warm")
        tokens: list[str] = []
        for step in range(30):
            token = f"tok{step}en{rng.randrange(10**6)}"
            tokens.append(token)
            victim = rng.choice(sorted((tree / "lib").rglob("*.py")))
            action = rng.choice(["append", "create", "delete", "rename", "same-size", "root"])
            _change(tree, victim, action, token, step)
            for pattern in (token, rng.choice(tokens), "fed ", "def narrowed"):
                mine, theirs = await both(pattern)
                assert mine == theirs, (step, action, pattern, sorted(set(mine.split()) ^ set(theirs.split())))


def test_the_table_keeps_every_row_through_disk_and_reuses_the_rows_of_files_gone(tmp_path: Path) -> None:
    table = Table()
    names = ["a.py", "dir/é ü.txt", os.fsdecode(b"raw-\xff-name.c"), "big.bin", "gone.py"]
    for n, rel in enumerate(names):
        flags = DIRECT if rel == "big.bin" else RACY if n == 1 else 0
        table.put(rel, table.row_for(rel), (n, n + 1, 2**63 + n, n + 3), flags)
    table.drop("gone.py", table.rows["gone.py"])
    table.save(tmp_path / "table", {"format": "x"})
    again, head = Table.load(tmp_path / "table")
    assert head["format"] == "x" and again.rows == table.rows and again.direct == {"big.bin"}
    assert again.vouches("a.py", (0, 1, 2**63, 3)) and not again.vouches("a.py", (0, 1, 2**63, 4))
    assert not again.vouches(names[1], (1, 2, 2**63 + 1, 4))  # read while too fresh: never vouched for
    assert again.row_for("new.py") == 4  # the row of the file gone
    (tmp_path / "table").write_bytes((tmp_path / "table").read_bytes()[:-3])
    with pytest.raises(ValueError):
        Table.load(tmp_path / "table")


def test_a_table_read_from_disk_shares_the_file_index_strings_and_keeps_its_rows(tmp_path: Path) -> None:
    table = Table()
    for rel in ("a.py", "b.bin", "c.py"):
        table.put(rel, table.row_for(rel), (1, 2, 3, 4), DIRECT if rel == "b.bin" else 0)
    table.save(tmp_path / "table", {})
    again, _ = Table.load(tmp_path / "table")
    listed = ["".join(["a", ".py"]), "".join(["b", ".bin"])]  # strings of their own, as the file index's
    again.share(listed)
    assert again.rows == table.rows and again.direct == {"b.bin"}
    assert next(rel for rel in again.rows if rel == "a.py") is listed[0] and again.names[0] is listed[0]


def test_a_table_kept_for_a_journal_names_every_row_it_cannot_vouch_for(tmp_path: Path) -> None:
    """What a new server proven by a journal searches until read again: the rows racy when kept, those of files
    known changed when kept (unvouched), the names not UTF-8 (a journal names them otherwise) and, once taken
    up, the rows of files out of sight (not followed: a rule may bring them back)."""
    table = Table()
    raw = os.fsdecode(b"raw-\xff.c")
    for rel in ("a.py", "fresh.py", "changed.py", raw, "hidden/x.py", "b.py"):
        table.put(rel, table.row_for(rel), (1, 2, 3, 4), RACY if rel == "fresh.py" else 0)
    table.save(tmp_path / "table", {}, unvouched=["changed.py", "gone.py"])
    assert table.racy() == ["fresh.py"]  # (the table in memory is as it was)
    again, _ = Table.load(tmp_path / "table")
    assert sorted(again.racy()) == sorted(["fresh.py", "changed.py", raw])
    listed = ["a.py", "fresh.py", "changed.py", raw, "b.py", "new.py"]
    assert again.share(listed) == ["new.py"]
    again.distrust_others(listed)
    assert sorted(again.racy()) == sorted(["fresh.py", "changed.py", raw, "hidden/x.py"])
    assert again.vouches("a.py", (1, 2, 3, 4)) and not again.vouches("hidden/x.py", (1, 2, 3, 4))


async def test_a_second_server_follows_the_index_another_writes_and_takes_it_over_once_that_one_left(
    tree: Path,
) -> None:
    """Two sessions on one workspace: the second could not take the store's writer lock, so it read every file
    at each grep. It follows the index the first writes (the table it saves, each file proven by a stat),
    and writes it itself once the first has left; its answers equal reading every file throughout."""
    rng = random.Random(53)
    indexing = ("--set", "grep_index=eager")
    calls = iter(range(2, 10_000))

    def second_grep(pattern: str) -> str:
        number = next(calls)
        args = {"pattern": pattern, "output_mode": "files", "max_results": 100_000}
        second.stdin.write(_call(number, "grep", args))
        second.stdin.flush()
        while (message := json.loads(second.stdout.readline())).get("id") != number:
            pass
        return message["result"]["content"][0]["text"]

    async def steps(count: int, plain: object) -> None:
        for step in range(count):
            token = f"tok{step}en{rng.randrange(10**6)}"
            victim = rng.choice(sorted((tree / "lib").rglob("*.py")))
            _change(tree, victim, rng.choice(["append", "create", "delete", "same-size", "root"]), token, step)
            for pattern in (token, "fed ", "def narrowed"):
                args = {"pattern": pattern, "output_mode": "files", "max_results": 100_000}
                assert second_grep(pattern) == text_of(await plain.call_tool("grep", args)), (step, pattern)

    async with serve(tree, "--set", "grep_index=off") as plain:
        async with serve(tree, *indexing) as first:
            await first.call_tool("grep", {"pattern": "built"})
            second = _handshaken(tree, *indexing)
            second_grep("follow")
            logged_until(second, "this one follows it")
            await steps(8, plain)
        try:
            await steps(1, plain)  # a change marks a file: the follower wakes, and the lock is free
            logged_until(second, "is this server's to write now")
            await steps(6, plain)
        finally:
            second.kill()
            second.wait()


async def test_a_server_started_while_another_builds_the_index_reads_every_file_then_follows_it(tree: Path) -> None:
    """It gave up for good ("another server is building"), and read every file for the rest of its session."""
    builder = ContentIndex(Workspace(tree, flags={"grep_index": "eager"}))
    builder.store = Store(builder.directory)
    builder._writer = builder.store.writer()  # building: the store's lock held, no table kept yet
    second = Workspace(tree, flags={"grep_index": "auto"})
    plain = Workspace(tree, flags={"grep_index": "off"})
    follower = content_index(second, 1_000_000)
    assert follower is not None
    follower._loaded.wait()
    assert follower.state == "building" and not follower.serves()
    assert await answer(second, "def narrowed") == await answer(plain, "def narrowed")  # every file read
    builder._build()  # the table kept
    follower._wake.set()
    follower.ready.wait()
    assert follower.state == "ready" and follower._writer is None, follower.status()
    write(tree, "lib/late.py", "def narrowed_late():\n    pass\n")
    for pattern in ("def narrowed", "class Table", "narrowed_late"):
        assert await answer(second, pattern) == await answer(plain, pattern), pattern
