"""Whole-tree reasoning over facts: catalogue, family, reason sets, call graph."""
