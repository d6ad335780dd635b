"""The trigrams of files' text as the store keeps them: of the UTF-8 bytes of the text in lower case, each one
a term of four characters, found with numpy a batch of files at a time.

A file's text is what rg searches (``searched_text``: to its first NUL, UTF-16 with a byte order mark
decoded), in lower case (``bytes.lower`` where it is ASCII, else ``str.lower``), in UTF-8. A trigram of
characters of a plan then stands for the byte trigrams of its UTF-8 (``terms``): a text holding those
characters side by side holds their bytes side by side. Measured on binutils 2.40 (257 MB of source), the
store was built in 3.4-4.1 s instead of 12.9 s from tantivy's character n-grams of the whole text (each trigram
once per file instead of once per place), and as quick on files of 200 bytes (monorepo, batched).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from volley.ngram.plan import searched_text

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"  # six bits a character
ALONE = 16 << 10  # a file of this many bytes or more is sorted alone, smaller ones a group at a time (one sort of
# file-and-trigram keys)
CHUNK = 4 << 20  # places sorted at once in a large file (bounded temporaries)
_GRAM_BITS = 24
GROUP = 1 << (32 - _GRAM_BITS)  # small files sorted together (their number in the group, a trigram: 32 bits)


def indexed(data: bytes) -> bytes:
    """A file's bytes as the index reads them: what rg searches, in lower case, in UTF-8."""
    if data.isascii():
        return data.partition(b"\x00")[0].lower()
    return searched_text(data).lower().encode("utf-8")


def term(code: int) -> str:
    """The store's term for the byte trigram ``code`` (its three bytes, first byte highest)."""
    return "".join(chr(ALPHABET[(code >> shift) & 63]) for shift in (18, 12, 6, 0))


def terms(gram: str) -> list[str]:
    """The store's terms that a text holding the characters ``gram`` (as a plan folds them) holds."""
    data = gram.encode("utf-8")
    return [term(int.from_bytes(data[i : i + 3], "big")) for i in range(len(data) - 2)]


def holder(data: bytes) -> Callable[[str], bool]:
    """Whether the store's document of a file of ``data`` holds a trigram of characters (for tests)."""
    held = set(Extractor().texts([indexed(data)])[0].split())
    return lambda gram: all(t in held for t in terms(gram))


class Extractor:
    """Turns files' bytes (``indexed``) into the store's text: each file's distinct trigrams as terms, separated
    by spaces. Small files are sorted a group at a time, a large one alone, a chunk at a time (quicker than a
    table of places, 64 MB of random writes, by 1.2-2.2x on real source with numpy's SIMD sort, measured)."""

    def __init__(self) -> None:
        import numpy as np

        self._np = np
        codes = np.arange(1 << 12)
        alphabet = np.frombuffer(ALPHABET, dtype=np.uint8)
        pairs = np.stack([alphabet[codes >> 6], alphabet[codes & 63]], axis=1)  # 12 bits -> two characters
        self._pairs = pairs.view(np.uint16).ravel()  # each pair as one number, in the machine's byte order

    def texts(self, files: list[bytes]) -> list[str]:
        """The store's text of each of ``files`` (each as ``indexed`` made it)."""
        np = self._np
        alone = [len(data) >= ALONE for data in files]
        batch = [data for data, big in zip(files, alone, strict=True) if not big]
        small = iter(self._batch(batch)) if batch else iter(())
        found = [self._sorted(data) if big else next(small) for data, big in zip(files, alone, strict=True)]
        counts = [len(codes) for codes in found]
        text = self._terms(np.concatenate(found) if found else np.empty(0, np.uint32))
        result, at = [], 0
        for count in counts:
            result.append(text[at : at + 5 * count])
            at += 5 * count
        return result

    def _trigrams(self, data: bytes) -> npt.NDArray[np.uint32]:
        """The trigram at each place of ``data`` (a view read four bytes at a time, the fourth shifted out)."""
        np = self._np
        if len(data) < 3:
            return np.empty(0, np.uint32)
        window = np.ndarray((len(data) - 2,), ">u4", data + b"\x00", strides=(1,))
        return (window >> 8).astype(np.uint32, copy=False)

    def _batch(self, files: list[bytes]) -> list[npt.NDArray[np.uint32]]:
        """Each file's distinct trigrams, small files together: keys of (file, trigram) sorted once per group
        of files (the file's number in the group above the trigram's 24 bits: 32 bits, quicker to sort)."""
        found: list[npt.NDArray[np.uint32]] = []
        for at in range(0, len(files), GROUP):
            found += self._group(files[at : at + GROUP])
        return found

    def _group(self, files: list[bytes]) -> list[npt.NDArray[np.uint32]]:
        np = self._np
        sizes = np.fromiter((len(data) for data in files), np.int64, len(files))
        places = self._trigrams(b"".join(files))
        if not len(places):
            return [np.empty(0, np.uint32) for _ in files]
        owner = np.repeat(np.arange(len(files), dtype=np.uint32) << np.uint32(_GRAM_BITS), sizes)[: len(places)]
        ends = np.cumsum(sizes)
        inside = np.ones(len(places), bool)  # the last two places of a file start trigrams across files
        for back in (1, 2):
            edge = ends - back
            inside[edge[(edge >= 0) & (edge < len(places))]] = False
        keys = self._distinct((owner | places)[inside])
        bounds = np.zeros(len(files) + 1, np.int64)
        np.cumsum(np.bincount(keys >> _GRAM_BITS, minlength=len(files)), out=bounds[1:])
        codes = keys & np.uint32((1 << _GRAM_BITS) - 1)
        return [codes[bounds[i] : bounds[i + 1]] for i in range(len(files))]

    def _sorted(self, data: bytes) -> npt.NDArray[np.uint32]:
        """A large file's distinct trigrams: those of each chunk, then of them all (bounded temporaries)."""
        np = self._np
        chunks = range(0, max(len(data) - 2, 0), CHUNK)
        found = [self._distinct(self._trigrams(data[at : at + CHUNK + 2])) for at in chunks]
        if len(found) == 1:
            return found[0]
        return self._distinct(np.concatenate(found)) if found else np.empty(0, np.uint32)

    def _distinct(self, keys: npt.NDArray[np.uint32]) -> npt.NDArray[np.uint32]:
        """``keys`` sorted, each once."""
        np = self._np
        keys = np.sort(keys)
        first = np.empty(len(keys), bool)
        first[:1] = True
        np.not_equal(keys[1:], keys[:-1], out=first[1:])
        return keys[first]

    def _terms(self, codes: npt.NDArray[np.uint32]) -> str:
        """Each code as its four characters and a space (two pairs of characters looked up per code)."""
        np = self._np
        four = np.empty((len(codes), 2), np.uint16)
        four[:, 0] = self._pairs[codes >> 12]
        four[:, 1] = self._pairs[codes & 4095]
        out = np.empty((len(codes), 5), np.uint8)
        out[:, :4] = four.view(np.uint8)
        out[:, 4] = 32
        return out.tobytes().decode("ascii")
