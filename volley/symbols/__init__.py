"""Code by symbol: tree-sitter grammars and queries, per-file symbols, the source files of a workspace, ranking."""
