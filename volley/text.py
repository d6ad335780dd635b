"""Telling text from binary, decoding it, and sizes for people."""

from __future__ import annotations

import codecs
import mimetypes
import re
import threading

_SURROGATE = re.compile("[\ud800-\udfff]")


def valid_text(text: str) -> str:
    """``text`` as UTF-8 can hold it: each lone surrogate (how Python keeps a name's bytes that are not UTF-8,
    or what a client's JSON escaped) as U+FFFD."""
    return text if text.isascii() else _SURROGATE.sub("\ufffd", text)


def has_lone_surrogates(text: str) -> bool:
    return not text.isascii() and _SURROGATE.search(text) is not None


SNIFF_BYTES = 8192
_NUMBERS: list[str] = []  # "     1\t", "     2\t", …: line-number prefixes as `cat -n` writes them, made once
_NUMBERS_KEPT = 20_000
_NUMBERS_GROWING = threading.Lock()
_MAGIC = (
    (b"\x89PNG", "PNG image"),
    (b"\xff\xd8\xff", "JPEG image"),
    (b"GIF8", "GIF image"),
    (b"%PDF", "PDF document"),
    (b"\x7fELF", "ELF executable"),
    (b"PK\x03\x04", "zip archive"),
    (b"\x1f\x8b", "gzip archive"),
    (b"SQLite format 3", "SQLite database"),
)
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))


def sniff_encoding(head: bytes) -> tuple[str, int]:
    """The encoding to decode with and the length of the BOM to skip (utf-8 without a BOM)."""
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return encoding, len(bom)
    return "utf-8", 0


def binary_kind(head: bytes, name: str) -> str | None:
    """A description of the file's type when ``head`` (its first bytes) shows it is binary."""
    if sniff_encoding(head)[0].startswith("utf-16"):
        return None
    if b"\x00" not in head:
        return None
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    guessed, _ = mimetypes.guess_type(name)
    return guessed or "binary data"


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def numbered(lines: list[str], start: int) -> str:
    """The lines as `cat -n` prints them, numbered from ``start``, each ending in a newline."""
    if not lines:
        return ""
    end = start + len(lines)
    if end > _NUMBERS_KEPT:
        numbers = [f"{n:>6}\t" for n in range(start, end)]
    else:
        with _NUMBERS_GROWING:
            if end > len(_NUMBERS) + 1:
                _NUMBERS.extend([f"{n:>6}\t" for n in range(len(_NUMBERS) + 1, end)])
        numbers = _NUMBERS[start - 1 : end - 1]
    return "\n".join(map("".join, zip(numbers, lines, strict=True))) + "\n"


def read_report(path: str) -> str | None:
    """A report a runner wrote to a file of ours, or None when it wrote none."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None
