"""Keyword indexes: the BM25 leg of search (port KeywordIndex)."""
