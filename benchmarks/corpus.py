"""The benchmark corpus: the Django 5.2 sdist from PyPI, plus a copy with a heavy ignored node_modules/."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

CACHE = Path(__file__).parent / ".cache"
IGNORED_FILES = 20_000
REFERENCE_PACKAGE = "@modelcontextprotocol/server-filesystem"


def django() -> Path:
    """The extracted sdist (downloaded once, then cached)."""
    CACHE.mkdir(exist_ok=True)
    found = _extracted()
    if found:
        return found[-1]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--no-binary",
            ":all:",
            "django>=5.2,<5.3",
            "-d",
            str(CACHE),
        ],
        check=True,
    )
    archive = sorted(CACHE.glob("[dD]jango-5.2*.tar.gz"))[-1]
    with tarfile.open(archive) as tar:
        tar.extractall(CACHE, filter="data")
    return _extracted()[-1]


def _extracted() -> list[Path]:
    """Extracted sdists, oldest release first (not the -heavy copies made from them)."""
    return sorted(p for p in CACHE.glob("django-5.2*/") if not p.name.endswith("-heavy"))


def heavy(plain: Path) -> Path:
    """The same tree plus node_modules/ of IGNORED_FILES files, ignored by .gitignore."""
    target = CACHE / (plain.name + "-heavy")
    if (target / "node_modules" / ".done").exists():
        return target
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(plain, target, symlinks=True)
    (target / ".gitignore").write_text("node_modules/\n")
    for i in range(IGNORED_FILES):
        package = target / "node_modules" / f"pkg{i // 100:03}" / "lib"
        package.mkdir(parents=True, exist_ok=True)
        (package / f"mod{i % 100:02}.js").write_text(f"function get_thing{i}() {{ return {i}; }}\n// TODO {i}\n")
    (target / "node_modules" / ".done").write_text("")
    return target


def reference_server() -> list[str]:
    """The argv prefix of the reference filesystem server (installed from the npm registry once)."""
    node_dir = CACHE / "node"
    entry = node_dir / "node_modules" / REFERENCE_PACKAGE / "dist" / "index.js"
    if not entry.exists():
        node_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["npm", "install", "--silent", "--no-audit", "--no-fund", REFERENCE_PACKAGE], cwd=node_dir, check=True
        )
    return ["node", str(entry)]
