"""The only stage that reads C text: tree-sitter parsing and per-file facts."""
