"""Linters' reports → diagnostics: ruff's and eslint's JSON, mypy's and go vet's lines, clippy's JSON events."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator

from volley.parsers.common import Diagnostic, Severity, json_start, rel


def read_lint(parser: str, output: str, tool: str, root: str) -> list[Diagnostic] | None:
    """Diagnostics from a linter's output; None when this parser cannot read it."""
    reader = _LINT.get(parser)
    if reader is None:
        return None
    try:
        return [d for d in reader(output, tool, root.rstrip("/") + "/")]
    except (ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError):  # unreadable
        return None


# Ruff has no levels of its own: syntax errors, E9 (io and syntax) and Pyflakes (F and digits: undefined
# names, bad comparisons…) are errors; every other rule, FURB and FLY among them, is style: a warning.
_RUFF_ERRORS = re.compile(r"invalid-syntax|syntax-error|E9\d\d|F\d+")


def _ruff(output: str, tool: str, root: str) -> Iterator[Diagnostic]:
    for item in json_start(output, "["):
        code = item.get("code")
        severity: Severity = "error" if code is None or _RUFF_ERRORS.fullmatch(code) else "warning"
        loc = item.get("location") or {"row": 1, "column": 1}
        yield Diagnostic(
            path=rel(item["filename"], root),
            line=loc["row"],
            column=loc["column"],
            code=code,
            severity=severity,
            message=item["message"],
            tool=tool,
        )


_MYPY = re.compile(
    r"^(?P<path>[^:\n]+):(?P<line>\d+):(?:(?P<col>\d+):)? (?P<sev>error|warning|note): (?P<msg>.*?)"
    r"(?:  \[(?P<code>[\w-]+)\])?$",
    re.MULTILINE,
)


def _mypy(output: str, tool: str, root: str) -> Iterator[Diagnostic]:
    """mypy's findings; a note at the place of the error before it is that error's hint (as in `mypy -O json`)."""
    last: Diagnostic | None = None
    for m in _MYPY.finditer(output):
        path, line, column = rel(m["path"], root), int(m["line"]), int(m["col"] or 1)
        if m["sev"] == "note" and last is not None and (last.path, last.line, last.column) == (path, line, column):
            last.message += f" (hint: {m['msg']})"
            continue
        if last is not None:
            yield last
        severity: Severity = "info" if m["sev"] == "note" else m["sev"]  # type: ignore[assignment]
        last = Diagnostic(
            path=path, line=line, column=column, code=m["code"], severity=severity, message=m["msg"], tool=tool
        )
    if last is not None:
        yield last


def _eslint(output: str, tool: str, root: str) -> Iterator[Diagnostic]:
    for file in json_start(output, "["):
        for msg in file.get("messages", []):
            yield Diagnostic(
                path=rel(file["filePath"], root),
                line=msg.get("line") or 1,
                column=msg.get("column") or 1,
                code=msg.get("ruleId"),
                severity="error" if msg.get("severity") == 2 else "warning",
                message=msg["message"],
                tool=tool,
            )


_GO_VET = re.compile(
    r"^(?:vet: )?(?P<path>[^:\s][^:\n]*\.go):(?P<line>\d+):(?:(?P<col>\d+):)? (?P<msg>.+)$", re.MULTILINE
)


def _go_vet(output: str, tool: str, root: str) -> Iterator[Diagnostic]:
    for m in _GO_VET.finditer(output):
        yield Diagnostic(
            path=rel(m["path"], root),
            line=int(m["line"]),
            column=int(m["col"] or 1),
            code=None,
            severity="error",
            message=m["msg"],
            tool=tool,
        )


def _clippy(output: str, tool: str, root: str) -> Iterator[Diagnostic]:
    for line in output.splitlines():
        if not line.startswith("{"):
            continue
        event = json.loads(line)
        message = event.get("message") if event.get("reason") == "compiler-message" else None
        if not message or message.get("level") not in ("error", "warning"):
            continue
        span = next((s for s in message.get("spans", []) if s.get("is_primary")), None)
        if span is None:
            continue
        yield Diagnostic(
            path=rel(span["file_name"], root),
            line=span["line_start"],
            column=span["column_start"],
            code=(message.get("code") or {}).get("code"),
            severity=message["level"],
            message=message["message"],
            tool=tool,
        )


_FLAKE8 = re.compile(r"^(?P<path>[^:\n]+):(?P<line>\d+):(?P<col>\d+): (?P<code>[A-Z]+\d+) (?P<msg>.*)$", re.MULTILINE)


def _flake8(output: str, tool: str, root: str) -> Iterator[Diagnostic]:
    """flake8's default format; pyflakes' codes (F) and E9 are errors, as for ruff."""
    for m in _FLAKE8.finditer(output):
        code = m["code"]
        yield Diagnostic(
            path=rel(m["path"], root),
            line=int(m["line"]),
            column=int(m["col"]),
            code=code,
            severity="error" if _RUFF_ERRORS.fullmatch(code) else "warning",
            message=m["msg"],
            tool=tool,
        )


_PYLINT_SEVERITY: dict[str, Severity] = {"fatal": "error", "error": "error", "warning": "warning"}


def _pylint(output: str, tool: str, root: str) -> Iterator[Diagnostic]:
    """pylint's JSON; conventions, refactorings and infos are "info"."""
    for item in json_start(output, "["):
        yield Diagnostic(
            path=rel(item["path"], root),
            line=item.get("line") or 1,
            column=(item.get("column") or 0) + 1,  # pylint counts columns from 0
            code=item.get("message-id") or item.get("symbol"),
            severity=_PYLINT_SEVERITY.get(item.get("type", ""), "info"),
            message=f"{item['message']} ({item.get('symbol', '')})",
            tool=tool,
        )


_TSC = re.compile(
    r"^(?P<path>[^\s(][^(\n]*)\((?P<line>\d+),(?P<col>\d+)\): (?P<sev>error|warning) (?P<code>TS\d+): (?P<msg>.*)$",
    re.MULTILINE,
)


def _tsc(output: str, tool: str, root: str) -> Iterator[Diagnostic]:
    """tsc --pretty false: `path(line,col): error TS1234: message` (a message's indented lines left out)."""
    for m in _TSC.finditer(output):
        severity: Severity = "error" if m["sev"] == "error" else "warning"
        yield Diagnostic(
            path=rel(m["path"], root),
            line=int(m["line"]),
            column=int(m["col"]),
            code=m["code"],
            severity=severity,
            message=m["msg"],
            tool=tool,
        )


_BIOME_SEVERITY: dict[str, Severity] = {"fatal": "error", "error": "error", "warning": "warning"}


def _biome(output: str, tool: str, root: str) -> Iterator[Diagnostic]:
    """biome's JSON reporter (its diagnostics, every one: --max-diagnostics=none)."""
    for item in json_start(output, "{")["diagnostics"]:
        location = item.get("location") or {}
        start = location.get("start") or {}
        yield Diagnostic(
            path=rel(location.get("path") or "?", root),
            line=start.get("line") or 1,
            column=start.get("column") or 1,
            code=item.get("category"),
            severity=_BIOME_SEVERITY.get(item.get("severity", ""), "info"),
            message=item.get("message") or "",
            tool=tool,
        )


_LINT: dict[str, Callable[[str, str, str], Iterator[Diagnostic]]] = {
    "ruff-json": _ruff,
    "mypy": _mypy,
    "eslint-json": _eslint,
    "go-vet": _go_vet,
    "clippy-json": _clippy,
    "flake8": _flake8,
    "pylint-json": _pylint,
    "tsc": _tsc,
    "biome-json": _biome,
}
