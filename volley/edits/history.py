"""Edits applied by this server, kept (bounded) so that one can be undone while its files stay as it left them."""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass

MAX_EDITS = 50
MAX_BYTES = 64 * 1024 * 1024  # old and new content kept, all edits together


@dataclass(frozen=True)
class FileState:
    rel: str
    abs: str
    before: bytes | None  # None: the file did not exist
    after: bytes | None  # None: the edit deleted it
    mode: int | None


@dataclass(frozen=True)
class Applied:
    edit_id: str
    files: list[FileState]

    @property
    def size(self) -> int:
        return sum(len(f.before or b"") + len(f.after or b"") for f in self.files)


class History:
    def __init__(self) -> None:
        self._edits: OrderedDict[str, Applied] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, files: list[FileState]) -> str:
        applied = Applied(f"e{uuid.uuid4().hex[:8]}", files)
        with self._lock:
            self._edits[applied.edit_id] = applied
            while len(self._edits) > MAX_EDITS or sum(a.size for a in self._edits.values()) > MAX_BYTES:
                if len(self._edits) == 1:
                    break
                self._edits.popitem(last=False)
        return applied.edit_id

    def get(self, edit_id: str) -> Applied | None:
        with self._lock:
            return self._edits.get(edit_id)

    def drop(self, edit_id: str) -> None:
        with self._lock:
            self._edits.pop(edit_id, None)

    def ids(self) -> list[str]:
        with self._lock:
            return list(self._edits)


_histories: dict[str, History] = {}
_guard = threading.Lock()


def history_of(root: str) -> History:
    with _guard:
        return _histories.setdefault(root, History())
