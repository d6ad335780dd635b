"""The store's terms of a file are its distinct byte trigrams, whichever way they are found: small files in a
group, large ones alone, a chunk at a time."""

from __future__ import annotations

import random

import numpy
import pytest

from volley.ngram import grams
from volley.ngram.grams import Extractor, indexed, term, terms


def naive(data: bytes) -> set[str]:
    return {term(int.from_bytes(data[i : i + 3], "big")) for i in range(len(data) - 2)}


@pytest.mark.parametrize("chunk", [grams.CHUNK, 1001])
def test_each_file_gets_exactly_its_distinct_trigrams(monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    monkeypatch.setattr(grams, "CHUNK", chunk)
    rng = random.Random(chunk)
    few = bytes(b"ab\x00\xff\n c"[i % 7] for i in range(256))  # few bytes: trigrams repeat in and across files
    files = [rng.randbytes(rng.choice([0, 1, 2, 3, 5, 40, 900, grams.ALONE + 50])).translate(few)]
    sizes = [0, 1, 2, 3, 4, 17, 300, 5000, grams.ALONE - 1, grams.ALONE, 3 * grams.ALONE]
    for n in range(2 * grams.GROUP + 60):  # small files sorted a group at a time, large ones taken alone
        size = rng.choice(sizes if n % 5 == 4 else sizes[:7])
        files.append(rng.randbytes(size).translate(few))
    texts = Extractor().texts(files)
    assert [set(text.split()) for text in texts] == [naive(data) for data in files]
    assert all(len(text.split()) == len(set(text.split())) for text in texts)


def test_every_trigram_has_its_own_term() -> None:
    codes = [*range(0, 1 << 24, 4093), 0, 1, (1 << 24) - 1]
    text = Extractor()._terms(numpy.array(codes, dtype=numpy.uint32))
    assert text.split() == [term(code) for code in codes] and len(text) == 5 * len(codes)


def test_a_file_is_indexed_as_rg_reads_it_in_lower_case() -> None:
    assert indexed(b"Hello\x00World") == b"hello"
    assert indexed("K\u212a\u0130".encode()) == "kk\u0130".lower().encode()
    assert indexed("\ufeffNeedle".encode("utf-16-le")) == b"needle"
    assert terms("ab\u017f") == [term(int.from_bytes(b"ab\xc5", "big")), term(int.from_bytes(b"b\xc5\xbf", "big"))]
