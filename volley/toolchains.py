"""Which linters and test runners a workspace has, and the exact argv each run will use.

Detection prefers the workspace's own environment (.venv/bin, node_modules/.bin) over PATH. A
command configured in the workspace config (`[lint]` / `[test]`) replaces detection.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shlex
import shutil
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from volley.concurrency import blocking
from volley.config import Command
from volley.errors import ToolchainError

Role = Literal["lint", "test"]


@dataclass(frozen=True)
class Toolchain:
    """One runnable linter or test runner."""

    name: str
    role: Role
    language: str
    argv: list[str]
    parser: str  # how its output is read: see volley.parsers
    source: str  # why it was chosen, for the model and the user
    env: dict[str, str] = field(default_factory=dict)
    timeout_s: float = 600.0
    missing: str = ""  # configured by the project but not installed: why, and how to install it
    cwd: str = ""  # the project it runs in: its directory relative to the workspace root ("" for the root)

    def describe(self) -> str:
        missing = f" MISSING: {self.missing}" if self.missing else ""
        return f"{self.role}: {self.name} ({self.language}) — {' '.join(self.argv)}  [{self.source}]{missing}"


async def offered(root: Path, lint: Command, test: Command) -> list[Toolchain]:
    """``detect`` in a worker thread: it looks at files and searches PATH, which must not block the event loop."""
    return await blocking(detect, root, lint, test)


def detect(root: Path, lint: Command, test: Command, fallback: Path | None = None) -> list[Toolchain]:
    """Every toolchain the workspace (or a project in it, at ``root``) offers, configured ones replacing detection
    for their role; ``fallback`` is the workspace's root, whose environment serves a project without one."""
    found: list[Toolchain] = []
    for role, command in (("lint", lint), ("test", test)):
        if not command.enabled:
            continue
        if command.command:
            found.append(_configured(role, command))  # type: ignore[arg-type]
            continue
        for chain in _detected(root, fallback):
            if chain.role == role:
                found.append(Toolchain(**{**chain.__dict__, "timeout_s": command.timeout_s, "env": command.env}))
    return found


def choose(chains: list[Toolchain], role: Role, name: str | None, root: Path) -> list[Toolchain]:
    """The toolchains a run uses: the one named, else every one of that role (linters) or the first (tests)."""
    candidates = [c for c in chains if c.role == role]
    if name is not None:
        picked = [c for c in candidates if c.name == name]
        if not picked:
            known = ", ".join(c.name for c in candidates) or "none"
            raise ToolchainError(f"no {role} toolchain named {name!r} in this workspace (available: {known})")
        return picked
    if not candidates:
        raise ToolchainError(missing_toolchain(role, root))
    return candidates if role == "lint" else candidates[:1]


def missing_toolchain(role: Role, root: Path) -> str:
    looked = (
        "ruff and mypy (.venv/bin, PATH), eslint (node_modules/.bin), go vet (go.mod), cargo clippy (Cargo.toml)"
        if role == "lint"
        else "pytest or unittest (Python files), vitest/jest or the package.json test script, go test (go.mod), "
        "cargo test (Cargo.toml)"
    )
    section = "[lint]" if role == "lint" else "[test]"
    return (
        f"no {'linter' if role == 'lint' else 'test runner'} found in {root}: looked for {looked}. "
        f"Install one in the workspace, or set `command = [...]` under {section} in .volley.toml"
    )


_KNOWN = {
    "ruff": ("python", "ruff-json"),
    "mypy": ("python", "mypy"),
    "pytest": ("python", "pytest-junit"),
    "eslint": ("javascript", "eslint-json"),
    "jest": ("javascript", "jest-json"),
    "vitest": ("javascript", "jest-json"),
    "go": ("go", "go-vet"),
    "cargo": ("rust", "cargo-test"),
}


def _configured(role: Role, command: Command) -> Toolchain:
    argv = list(command.command or [])
    words = {os.path.basename(a) for a in argv}
    name: str | None = next((w for w in ("ruff", "mypy", "pytest", "eslint", "jest", "vitest") if w in words), None)
    if name is None and words & {"unittest"}:
        name = "unittest"
    language, parser = _KNOWN.get(name or "", ("configured", "generic"))
    if name == "unittest":
        language, parser = "python", "unittest"
    if name == "ruff" and "json" not in argv:
        parser = "generic"  # without --output-format json there is nothing structured to read
    return Toolchain(
        name=name or os.path.basename(argv[0]),
        role=role,
        language=language,
        argv=argv,
        parser=parser,
        source=f"configured: [{role}] command",
        env=command.env,
        timeout_s=command.timeout_s,
    )


def _detected(root: Path, fallback: Path | None = None) -> list[Toolchain]:
    return [*_python(root, fallback), *_javascript(root, fallback), *_go(root), *_rust(root)]


def _python(root: Path, fallback: Path | None = None) -> list[Toolchain]:
    markers = ("pyproject.toml", "setup.py", "setup.cfg", "requirements.txt", "tox.ini")
    venv_bin, why = project_environment(root)  # a workspace whose Python project lies in a subfolder has one too
    if venv_bin is None and fallback is not None:
        venv_bin, why = project_environment(fallback)
    if (
        not any((root / m).exists() for m in markers)
        and not any(root.glob("*.py"))
        and not any(root.glob("*/*.py"))
        and venv_bin is None
    ):
        return []
    python = str(venv_bin / "python") if venv_bin else (shutil.which("python3") or shutil.which("python"))
    chains = []
    ruff, where = _tool(venv_bin, why, "ruff")
    others = _other_python_linters(root)  # flake8 or pylint, as the project configures them
    chosen = _ruff_configured(root) or (venv_bin is not None and ruff == str(venv_bin / "ruff"))
    if others and not chosen:
        ruff = None  # a ruff on PATH or Volley's, with rules the project never chose, is not its linter
    elif ruff is None:
        ruff, where = _bundled_ruff()
    for name, configured in others.items():
        found, found_where = _tool(venv_bin, why, name)
        argv, parser = _OTHER_LINTERS[name]
        if found is None:
            fix = f"{python} -m pip install {name}" if python else f"install {name}"
            missing = f"this project is configured for {name} ({configured}), but {name} is not installed: {fix}"
            chains.append(Toolchain(name, "lint", "python", [name, *argv], parser, configured, missing=missing))
        else:
            chains.append(Toolchain(name, "lint", "python", [found, *argv], parser, f"{found_where}; {configured}"))
    if ruff:
        argv = [ruff, "check", "--no-cache", "--output-format", "json"]
        chains.append(Toolchain("ruff", "lint", "python", argv, "ruff-json", where))
    mypy, where = _tool(venv_bin, why, "mypy")
    if _mypy_configured(root):
        argv = [mypy or "mypy", "--show-column-numbers", "--no-error-summary", "--no-pretty", "--cache-dir", os.devnull]
        target, because = ("", "its config names the files") if _mypy_names_files(root) else _mypy_target(root)
        argv += [target] if target else []  # mypy with no target and no `files` in its config errors out
        source = f"{where}; mypy is configured; checks {target or 'the files its config names'} ({because})"
        missing = (
            "" if mypy else f"this project configures mypy, but mypy is not installed: {python} -m pip install mypy"
        )
        chains.append(Toolchain("mypy", "lint", "python", argv, "mypy", source, missing=missing))
    # pytest only where it is installed for the interpreter that runs it: a project environment without
    # pytest runs unittest with its own Python (`-m pytest` there answered "No module named pytest").
    pytest, where = (str(venv_bin / "pytest"), f"{why}: pytest") if venv_bin else _tool(None, "", "pytest")
    if venv_bin and not (venv_bin / "pytest").exists():
        pytest = None
    tests: list[Toolchain] = []
    if pytest and python:
        argv = [python if venv_bin else pytest, *(["-m", "pytest"] if venv_bin else []), "-o", "junit_family=xunit1"]
        argv.append("-v")  # a line per test as it starts and ends: a run stopped midway still says what finished
        tests.append(Toolchain("pytest", "test", "python", argv, "pytest-junit", where))
    if not tests and python and (configured := _pytest_configured(root)):
        # the project's runner is pytest: falling back to unittest silently answered "NO TESTS" or import errors
        fix = f"{python} -m pip install pytest"
        missing = (
            f"this project is configured for pytest ({configured}), but pytest is not installed for {python}"
            f"{f' ({why})' if why else ''}: install it ({fix}), or pass runner='unittest' to run unittest anyway"
        )
        tests.append(
            Toolchain("pytest", "test", "python", [python, "-m", "pytest"], "pytest-junit", why, missing=missing)
        )
    if python:  # offered too, so runner="unittest" is always honoured
        source = f"{why}: the standard library's unittest" if venv_bin else f"{python}: the standard library's unittest"
        if _declares_unittest(root):  # the project's own way (pytest would skip its doctests): first
            tests.insert(
                0,
                Toolchain(
                    "unittest",
                    "test",
                    "python",
                    [python, "-m", "unittest", "-v"],
                    "unittest",
                    f"tox.ini runs `-m unittest`; {source}",
                ),
            )
        else:
            prefix = "" if pytest else "no pytest for this interpreter; "
            tests.append(
                Toolchain("unittest", "test", "python", [python, "-m", "unittest"], "unittest", prefix + source)
            )
    chains += tests
    return chains


def _pytest_configured(root: Path) -> str:
    """Where the project says its tests run on pytest ('' when it does not)."""
    found = _first_mention(
        root,
        (
            ("pytest.ini", "[pytest]"),
            ("pyproject.toml", "[tool.pytest"),
            ("setup.cfg", "[tool:pytest]"),
            ("tox.ini", "[pytest]"),
            ("tox.ini", "pytest"),
            ("setup.py", "pytest"),  # tests_require, setup_requires=["pytest-runner"]
            ("pyproject.toml", "pytest"),  # a test extra or dependency group
            ("requirements-dev.txt", "pytest"),
            ("requirements-test.txt", "pytest"),
            ("test-requirements.txt", "pytest"),
            ("dev-requirements.txt", "pytest"),
        ),
    )
    if found:
        return f"{found[0]} {found[1]}" if found[1].startswith("[") else f"{found[0]} names pytest"
    return "conftest.py" if (root / "conftest.py").exists() or (root / "tests" / "conftest.py").exists() else ""


def _first_mention(root: Path, candidates: tuple[tuple[str, str], ...]) -> tuple[str, str] | None:
    """The first (file, text) of ``candidates`` whose file at the root holds that text; each file read once."""
    texts: dict[str, str] = {}
    for name, marker in candidates:
        if name not in texts:
            try:
                texts[name] = (root / name).read_text(errors="replace")
            except OSError:
                texts[name] = ""
        if marker in texts[name]:
            return name, marker
    return None


_OTHER_LINTERS = {
    "flake8": (["--format=default", "--exit-zero"], "flake8"),
    "pylint": (["--output-format=json", "--exit-zero", "--persistent=n"], "pylint-json"),
}


def _other_python_linters(root: Path) -> dict[str, str]:
    """flake8 and pylint where the project's config has a section for them: linter → where it is configured."""
    places: dict[str, tuple[tuple[str, str], ...]] = {
        "flake8": ((".flake8", "[flake8]"), ("setup.cfg", "[flake8]"), ("tox.ini", "[flake8]")),
        "pylint": (
            (".pylintrc", "["),
            ("pylintrc", "["),
            ("pyproject.toml", "[tool.pylint"),
            ("setup.cfg", "[pylint"),
            ("tox.ini", "[pylint"),
        ),
    }
    found = {}
    for linter, candidates in places.items():
        if mention := _first_mention(root, candidates):
            found[linter] = f"{mention[0]} {mention[1] if mention[1] != '[' else ''}".strip()
    return found


def _ruff_configured(root: Path) -> bool:
    if (root / "ruff.toml").exists() or (root / ".ruff.toml").exists():
        return True
    try:
        return "[tool.ruff" in (root / "pyproject.toml").read_text(errors="replace")
    except OSError:
        return False


def _declares_unittest(root: Path) -> bool:
    """Whether the project's own test command (tox.ini) is `python -m unittest` rather than pytest."""
    try:
        text = (root / "tox.ini").read_text()
    except OSError:
        return False
    commands = [line for line in text.splitlines() if "unittest" in line or "pytest" in line]
    return any("-m unittest" in line for line in commands) and not any("pytest" in line for line in commands)


def project_environment(root: Path) -> tuple[Path | None, str]:
    """The bin directory of the workspace's own Python environment, and why it was chosen.

    ``VIRTUAL_ENV`` when it lies inside the workspace, else ``.venv`` or ``venv`` at its root; None
    when there is none (hosts such as Claude Desktop start servers with no VIRTUAL_ENV and a bare
    PATH, so the workspace's environment is found by looking, not by inheriting it).
    """
    active = os.environ.get("VIRTUAL_ENV")
    if active:
        real = Path(os.path.realpath(active))
        if real.is_relative_to(root) and (real / "bin" / "python").exists():
            return real / "bin", f"VIRTUAL_ENV {real.relative_to(root)}/"
    for name in (".venv", "venv"):  # uv's and most tools' place for it
        if (root / name / "bin" / "python").exists():
            return root / name / "bin", f"the workspace's {name}/"
    pdm = root / ".pdm-python"  # pdm writes the interpreter it chose there
    if pdm.is_file():
        python = Path(pdm.read_text().strip())
        if python.exists():
            return python.parent, f"pdm's interpreter (.pdm-python: {python})"
    poetry = _poetry_environment(root)
    if poetry is not None:
        return poetry / "bin", f"poetry's environment {poetry}"
    return None, ""


def _poetry_environment(root: Path) -> Path | None:
    """The environment poetry keeps for the project outside it (its virtualenvs.path), when there is one.

    Named as poetry names it: ``<name>-<first 8 of urlsafe-base64(sha256(project path))>-py<X.Y>``.
    """
    project = _pyproject(root)
    name = project.get("tool", {}).get("poetry", {}).get("name") or project.get("project", {}).get("name")
    if not name or not ((root / "poetry.lock").exists() or "poetry" in project.get("tool", {})):
        return None
    sanitized = re.sub(r'[ $`!*@"\\\r\n\t]', "_", name.lower())[:42]
    digest = hashlib.sha256(os.fsencode(os.path.normcase(os.path.realpath(root)))).digest()
    prefix = f"{sanitized}-{base64.urlsafe_b64encode(digest).decode()[:8]}-py"
    home = Path(os.environ.get("POETRY_VIRTUALENVS_PATH") or Path.home() / ".cache" / "pypoetry" / "virtualenvs")
    found = sorted(home.glob(prefix + "*"), key=lambda p: [int(x) for x in re.findall(r"\d+", p.name[len(prefix) :])])
    return next((env for env in reversed(found) if (env / "bin" / "python").exists()), None)


def _pyproject(root: Path) -> dict[str, Any]:
    """The folder's pyproject.toml, or {} when there is none or it cannot be read (not TOML or UTF-8, or nested
    deeper than Python's reader goes)."""
    try:
        return tomllib.loads((root / "pyproject.toml").read_text())
    except (OSError, ValueError, RecursionError):
        return {}


def _tool(venv_bin: Path | None, why: str, name: str) -> tuple[str | None, str]:
    if venv_bin is not None and (venv_bin / name).exists():
        return str(venv_bin / name), f"{why}: {venv_bin.parent.name}/bin/{name}"
    found = shutil.which(name)
    return found, f"detected on PATH: {found}"


def _bundled_ruff() -> tuple[str | None, str]:
    """The ruff installed with Volley, found from Volley's own install whatever PATH is."""
    try:
        from ruff.__main__ import find_ruff_bin  # type: ignore[import-untyped]

        return find_ruff_bin(), "bundled with Volley (no ruff in the workspace's environment or on PATH)"
    except (ImportError, FileNotFoundError):
        return None, ""


def _mypy_names_files(root: Path) -> bool:
    """Whether the mypy config says which files to check (`files = ...`), so no target is needed."""
    for name in ("mypy.ini", ".mypy.ini", "setup.cfg"):
        try:
            text = (root / name).read_text()
        except OSError:
            continue
        section = text.split("[mypy]", 1)[1].split("\n[", 1)[0] if "[mypy]" in text else ""
        if any(line.split("=")[0].strip() == "files" for line in section.splitlines() if "=" in line):
            return True
    return "files" in _pyproject(root).get("tool", {}).get("mypy", {})


def _mypy_target(root: Path) -> tuple[str, str]:
    """What mypy checks when its config names no files: the project's package, as its CI would pass it."""
    if (root / "src").is_dir():
        return "src", "a src/ layout"
    name = _pyproject(root).get("project", {}).get("name", "")
    package = re.sub(r"[-.]+", "_", name).lower()
    if package and (root / package / "__init__.py").exists():
        return package, "the package named after the project"
    return ".", "no src/ and no package named after the project"


def _mypy_configured(root: Path) -> bool:
    if (root / "mypy.ini").exists() or (root / ".mypy.ini").exists():
        return True
    if "mypy" in _pyproject(root).get("tool", {}):
        return True
    try:
        return "[mypy]" in (root / "setup.cfg").read_text()
    except OSError:
        return False


_ESLINT_CONFIGS = (
    *(f"eslint.config.{ext}" for ext in ("js", "mjs", "cjs", "ts", "mts", "cts")),
    *(f".eslintrc{ext}" for ext in ("", ".js", ".cjs", ".json", ".yml", ".yaml")),
)


def _javascript(root: Path, fallback: Path | None = None) -> list[Toolchain]:
    try:
        package = json.loads((root / "package.json").read_text())
    except (OSError, ValueError, RecursionError):
        return []
    bin_dir = root / "node_modules" / ".bin"
    if fallback is not None and not bin_dir.is_dir():  # a workspace's packages share its hoisted node_modules
        for parent in root.parents:
            if not _within(parent, fallback):
                break
            if (parent / "node_modules" / ".bin").is_dir():
                bin_dir = parent / "node_modules" / ".bin"
                break
    chains = []
    if (bin_dir / "eslint").exists() and (
        any((root / name).exists() for name in _ESLINT_CONFIGS) or "eslintConfig" in package
    ):  # installed as another package's dependency, with no config of the project's, it has nothing to run
        chains.append(
            Toolchain(
                "eslint",
                "lint",
                "javascript",
                [str(bin_dir / "eslint"), "-f", "json", "."],
                "eslint-json",
                "detected: node_modules/.bin/eslint and the project's eslint config",
            )
        )
    if (bin_dir / "tsc").exists() and (root / "tsconfig.json").exists():
        argv = [str(bin_dir / "tsc"), "--noEmit", "--pretty", "false"]
        chains.append(
            Toolchain("tsc", "lint", "typescript", argv, "tsc", "detected: node_modules/.bin/tsc, tsconfig.json")
        )
    if (bin_dir / "biome").exists() and any((root / name).exists() for name in ("biome.json", "biome.jsonc")):
        argv = [str(bin_dir / "biome"), "lint", "--reporter=json", "--max-diagnostics=none", "."]
        chains.append(Toolchain("biome", "lint", "javascript", argv, "biome-json", "detected: node_modules/.bin/biome"))
    script = package.get("scripts", {}).get("test") or ""
    runners = []
    if (node_test := _node_test(script)) is not None:
        source = f"detected: package.json's test script runs node's own test runner ({script})"
        runners.append(Toolchain("node --test", "test", "javascript", node_test, "node-junit", source))
    for name, flags in (("vitest", ["run", "--reporter=json"]), ("jest", ["--json"])):
        if (bin_dir / name).exists():
            argv = [str(bin_dir / name), *flags]
            runners.append(
                Toolchain(name, "test", "javascript", argv, "jest-json", f"detected: node_modules/.bin/{name}")
            )
    runners.sort(key=lambda c: c.name.split()[0] not in script)  # the one the test script runs first
    chains += runners
    if script and shutil.which("npm"):
        source = "detected: the test script of package.json"
        chains.append(Toolchain("npm test", "test", "javascript", ["npm", "test", "--silent"], "generic", source))
    return chains


def _node_test(script: str) -> list[str] | None:
    """The argv of the `node --test …` command a test script runs, alone or as one of its `&&` steps (the
    others, type checks and the like, are not tests), node found on PATH; None for any other script (it
    runs as `npm test`)."""
    node = shutil.which("node")
    for step in script.split("&&"):
        try:
            words = shlex.split(step)
        except ValueError:
            continue
        plain = not any(w in ("||", ";", "|", ">", "<", "&") or "$" in w for w in words)
        if node and plain and len(words) >= 2 and words[0] == "node" and "--test" in words:
            return [node, *words[1:]]
    return None


def _within(path: Path, top: Path) -> bool:
    return path == top or top in path.parents


def _go(root: Path) -> list[Toolchain]:
    go = shutil.which("go")
    if not (root / "go.mod").exists() or go is None:
        return []
    return [
        Toolchain("go vet", "lint", "go", [go, "vet", "./..."], "go-vet", "detected: go.mod"),
        Toolchain("go test", "test", "go", [go, "test", "-json", "./..."], "go-test-json", "detected: go.mod"),
    ]


def _rust(root: Path) -> list[Toolchain]:
    cargo = shutil.which("cargo")
    if not (root / "Cargo.toml").exists() or cargo is None:
        return []
    return [
        Toolchain(
            "cargo clippy",
            "lint",
            "rust",
            [cargo, "clippy", "--message-format=json", "--quiet"],
            "clippy-json",
            "detected: Cargo.toml",
        ),
        Toolchain("cargo test", "test", "rust", [cargo, "test"], "cargo-test", "detected: Cargo.toml"),
    ]
