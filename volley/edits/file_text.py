"""A file's text as an edit sees it, and the bytes it writes back: encoding, byte-order mark, line endings and
final newline kept as the file had them, and any byte that does not decode carried through unchanged."""

from __future__ import annotations

from dataclasses import dataclass

from volley.text import binary_kind, sniff_encoding


@dataclass(frozen=True)
class FileText:
    text: str
    encoding: str
    bom: bytes
    newline: str  # the file's most common line ending ("\n" for a file with none)

    @classmethod
    def decode(cls, data: bytes, name: str) -> FileText:
        """Raises ValueError for a binary file."""
        kind = binary_kind(data[:8192], name)
        if kind is not None:
            raise ValueError(f"'{name}' is a binary file ({kind}): edit changes text files only")
        encoding, bom_length = sniff_encoding(data)
        text = data[bom_length:].decode(encoding, errors="surrogateescape")
        return cls(text, encoding, data[:bom_length], dominant_newline(text))

    @classmethod
    def new(cls, text: str) -> FileText:
        return cls(text, "utf-8", b"", dominant_newline(text))

    def encode(self, text: str) -> bytes:
        return self.bom + text.encode(self.encoding, errors="surrogateescape")

    def in_own_newlines(self, text: str) -> str:
        """``text`` (sent by a client, most often with LF) with the file's line ending where it has CRLF."""
        if self.newline == "\r\n" and "\r\n" not in text:
            return text.replace("\n", "\r\n")
        return text


def dominant_newline(text: str) -> str:
    crlf = text.count("\r\n")
    return "\r\n" if crlf and crlf * 2 >= text.count("\n") else "\n"
