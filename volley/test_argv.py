"""How each test runner is told what to run and where to write its report.

Every runner that can write a machine-readable report writes it to a file of the run's own (pytest's JUnit
XML, jest's and vitest's JSON, node's JUnit), never into the output the tests also write to. Jest runs
through a launcher that hands it its arguments out of sight: tests that parse ``process.argv`` (a CLI
library testing itself) see ``[node, jest]``, as when the project runs ``jest`` itself.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field

from volley.toolchains import Toolchain

JEST_LAUNCHER = """\
// Volley's jest launcher: jest's arguments come from the environment, so the tests' process.argv is [node, jest].
const fs = require("fs");
const path = require("path");
const bin = fs.realpathSync(process.env.VOLLEY_JEST_BIN);
const args = JSON.parse(process.env.VOLLEY_JEST_ARGS);
delete process.env.VOLLEY_JEST_BIN;
delete process.env.VOLLEY_JEST_ARGS;
process.argv = [process.argv[0], bin];
if (process.env.NODE_ENV == null) process.env.NODE_ENV = "test";
require(require.resolve("jest-cli", { paths: [path.dirname(bin), process.cwd()] })).run(args);
"""


@dataclass
class Launch:
    argv: list[str]  # what is run
    shown: list[str]  # what the answer names as the command (the runner's own argv)
    report: str | None = None  # the file the runner writes its report to
    env: dict[str, str] = field(default_factory=dict)


def launch(chain: Toolchain, paths: list[str], keyword: str | None, fail_fast: bool, tmp: str) -> Launch:
    """The run's command, inside the scratch directory ``tmp`` for its report (and jest's launcher)."""
    argv = list(chain.argv)
    name = chain.name
    if name == "pytest":
        report = os.path.join(tmp, "report.xml")
        argv += [f"--junitxml={report}", *(["-x"] if fail_fast else []), *(["-k", keyword] if keyword else [])]
        return Launch([*argv, "--", *paths] if paths else argv, [], report)
    if name == "unittest":
        argv += [*(["-f"] if fail_fast else []), *(["-k", keyword] if keyword else [])]
        return Launch([*argv, *paths], [])  # no paths: unittest discovers
    if name in ("jest", "vitest"):
        report = os.path.join(tmp, "report.json")
        bail = "--bail=1" if name == "vitest" else "--bail"  # vitest's --bail takes a number
        argv += [f"--outputFile={report}", *([bail] if fail_fast else []), *(["-t", keyword] if keyword else [])]
        argv += paths
        node = shutil.which("node")
        if name == "jest" and node:
            launcher = os.path.join(tmp, "jest-launcher.cjs")
            with open(launcher, "w") as f:
                f.write(JEST_LAUNCHER)
            env = {"VOLLEY_JEST_BIN": argv[0], "VOLLEY_JEST_ARGS": json.dumps(argv[1:])}
            return Launch([node, launcher], argv, report, env)
        return Launch(argv, [], report)
    if name == "node --test":
        report = os.path.join(tmp, "report.xml")
        at = argv.index("--test") + 1
        reporters = ["--test-reporter=spec", "--test-reporter-destination=stdout"]
        reporters += ["--test-reporter=junit", f"--test-reporter-destination={report}"]
        argv[at:at] = [*reporters, *([f"--test-name-pattern={keyword}"] if keyword else [])]
        if paths:  # the script's own file arguments give way to the targets
            argv = [argv[0], *(word for word in argv[1:] if word.startswith("-")), *paths]
        return Launch(argv, [], report)
    if name == "go test":
        argv = [*argv[:-1], *(["-failfast"] if fail_fast else []), *(["-run", keyword] if keyword else [])]
        return Launch([*argv, *(paths or ["./..."])], [])
    if name == "cargo test":
        # cargo stops at the first failing test binary unless told not to (the doc-tests then never ran)
        selected = [arg for path in paths for arg in _cargo_target(path)]
        return Launch(
            [*argv, *([] if fail_fast else ["--no-fail-fast"]), *selected, *([keyword] if keyword else [])], []
        )
    if name == "npm test":
        return Launch([*argv, "--", *paths] if paths else argv, [])  # after `--`: npm hands them to the script
    return Launch([*argv, *paths], [])


def _cargo_target(path: str) -> list[str]:
    """cargo's selection for a path: an integration test file by its name, the tests/ directory, the library's
    unit tests for a file of src/; the whole crate for the crate's root."""
    path = path.strip("/")
    if path in (".", ""):
        return []
    if path.startswith("tests/") and path.endswith(".rs") and path.count("/") == 1:
        return ["--test", path.removeprefix("tests/").removesuffix(".rs")]
    if path == "tests":
        return ["--tests"]
    if path.startswith("src"):
        return ["--lib", "--bins"] if path.endswith("main.rs") or "/bin/" in path else ["--lib"]
    if path.startswith(("examples", "benches")):
        return ["--examples"] if path.startswith("examples") else ["--benches"]
    return []
