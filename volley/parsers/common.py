"""What every parser yields, and the helpers they share."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, Field

Severity = Literal["error", "warning", "info"]
EXCERPT_LINES = 30


class Diagnostic(BaseModel):
    path: str
    line: int
    column: int
    code: str | None
    severity: Severity
    message: str
    tool: str


class Failure(BaseModel):
    test_id: str
    path: str | None = None
    line: int | None = None
    kind: Literal["failed", "error"] = "failed"
    message: str
    traceback: str = Field("", description="a short excerpt: the end of the traceback")
    frames: list[tuple[str, int]] = Field(default_factory=list, exclude=True)  # every frame, deepest last


class TestCounts(BaseModel):
    __test__ = False  # not a pytest test class

    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    xfailed: int = Field(0, description="expected failures (pytest xfail, unittest expectedFailure)")
    xpassed: int = Field(0, description="expected to fail, passed")
    deselected: int = Field(0, description="not run: left out by keyword or marker")
    subtests_passed: int = Field(0, description="pytest 9 subtests (unittest subTest too) that passed")
    subtests_failed: int = Field(0, description="subtests that failed (each also listed as a failure)")
    failures: list[Failure] = Field(default_factory=list)
    structured: bool = Field(False, description="whether the counts came from a structured report")


def rel(path: str, root: str) -> str:
    return path[len(root) :] if path.startswith(root) else path.removeprefix("./")


def json_start(output: str, opener: str) -> Any:
    start = output.find(opener)
    if start < 0:
        raise ValueError("no JSON in the output")
    return json.JSONDecoder().raw_decode(output[start:])[0]


def excerpt(text: str) -> str:
    lines = text.strip().splitlines()
    return "\n".join(lines[-EXCERPT_LINES:])
