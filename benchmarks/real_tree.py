"""A real tree of 220,967 visible files made of published source trees: Linux 6.1, GCC 12.2 and binutils 2.40,
as Debian publishes them (linux-source-6.1, gcc-12-source, binutils-source), unpacked side by side in
benchmarks/.cache/real-tree (2.4 GB, about 3 minutes to download and unpack; made once).

Each keeps its own ignore files. Debian's kernel tree adds ``/*`` (with ``!/debian/``) to the kernel's top-level
.gitignore, for its packaging repository: those lines are taken out, so the tree is the kernel's as it is
published.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

TREE = Path(__file__).parent / ".cache" / "real-tree"
PACKAGES = ["linux-source-6.1", "gcc-12-source", "binutils-source"]
TARBALLS = ["linux-source-6.1.tar.xz", "gcc-12.2.0-dfsg.tar.xz", "binutils-2.40.tar.xz"]
SELECTIVE = "kobject_uevent_env"  # in 59 of the 220,967 files


def real_tree() -> Path:
    """The tree, made when missing (needs Debian's package archive: apt-get download)."""
    done = TREE.with_name("real-tree.complete")
    if done.exists():
        return TREE
    shutil.rmtree(TREE, ignore_errors=True)
    TREE.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="volley-real-tree-") as scratch:
        subprocess.run(["apt-get", "download", *PACKAGES], cwd=scratch, check=True, capture_output=True)
        for deb in Path(scratch).glob("*.deb"):
            subprocess.run(["dpkg-deb", "-x", str(deb), f"{scratch}/x"], check=True)
        for name in TARBALLS:
            tarball = next(Path(scratch, "x").rglob(name))
            subprocess.run(["tar", "xf", str(tarball)], cwd=TREE, check=True)
    ignore = TREE / "linux-source-6.1" / ".gitignore"
    text = ignore.read_text()
    ignore.write_text(text[: text.index("#\n# Debian packaging")])
    done.write_text("")
    return TREE


if __name__ == "__main__":
    print(real_tree())
