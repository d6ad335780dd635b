"""The trigram store: a tantivy index with one document per file, its number and its text's trigrams.

Each file's distinct byte trigrams come as terms separated by spaces (grams.py; tantivy's whitespace
tokenizer), with document ids only (``basic``: no frequencies, no positions), so the store is small (17 MB for
257 MB of source, measured); the candidates of a plan are its boolean query's documents (each trigram of
characters asking for the terms of its bytes), read back by number from a fast field.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import tantivy

from volley.ngram.grams import terms
from volley.ngram.plan import Query

TOKENIZER = "volley-terms"
FORMAT = f"5 tantivy-{getattr(tantivy, '__version__', '?')}"  # a store of another format is made again


class Store:
    """One workspace's store on disk (made, or opened when its format is this one)."""

    def __init__(self, directory: Path) -> None:
        stamp = directory / "format"
        if directory.exists() and (not stamp.exists() or stamp.read_text() != FORMAT):
            shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True, exist_ok=True)
        builder = tantivy.SchemaBuilder()
        builder.add_integer_field("id", stored=False, indexed=True, fast=True)
        builder.add_text_field("body", stored=False, tokenizer_name=TOKENIZER, index_option="basic")
        self.schema = builder.build()
        self.index = tantivy.Index(self.schema, path=str(directory))
        self.index.register_tokenizer(TOKENIZER, tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.whitespace()).build())
        stamp.write_text(FORMAT)

    def writer(self) -> tantivy.IndexWriter:
        """A writer on one thread (the store is built in the background, on at most one core)."""
        return self.index.writer(heap_size=64_000_000, num_threads=1)

    @staticmethod
    def put(writer: tantivy.IndexWriter, number: int, text: str) -> None:
        """Document ``number`` with the terms of ``text`` (``Extractor.texts``)."""
        writer.add_document(tantivy.Document(id=number, body=text))

    @staticmethod
    def remove(writer: tantivy.IndexWriter, number: int) -> None:
        writer.delete_documents_by_term("id", number)

    def numbers(self, query: Query) -> set[int]:
        """The numbers of the files whose text has what ``query`` asks (blocking)."""
        self.index.reload()
        searcher = self.index.searcher()
        if searcher.num_docs == 0:
            return set()
        hits = searcher.search(self._query(query), limit=searcher.num_docs, count=False).hits
        return {int(n) for n in searcher.fast_field_values("id", [address for _, address in hits]) if n is not None}

    def _query(self, query: Query) -> tantivy.Query:
        must = [
            (tantivy.Occur.Must, tantivy.Query.term_query(self.schema, "body", term))
            for term in sorted({term for gram in query.grams for term in terms(gram)})
        ]
        for group in query.any_of:
            one_of = [(tantivy.Occur.Should, self._query(alternative)) for alternative in group]
            must.append((tantivy.Occur.Must, tantivy.Query.boolean_query(one_of)))
        return tantivy.Query.boolean_query(must)
