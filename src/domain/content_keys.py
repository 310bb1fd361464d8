"""Content keys: which chunks can share one vector.

A chunk's content key is the SHA-256 (hex) of exactly the text the embedder is given for it,
`embedding_text(chunk)`: its path, heading trail and text without markup. One embedder gives one
vector for one text, so a chunk whose key some stored chunk already has (of any repository, fork,
ref or file version in the same collection, whose vectors all come from one embedder) takes that
chunk's vector instead of being embedded again.

The key is the whole embedded text, path included, because a shorter key would copy vectors the
embedder would not have given: a file moved to another path is embedded again, unless a chunk with
the same text at the new path is already stored (a fork, another ref). Chunks stored before keys
were recorded have none, so nothing is copied from them.
"""

from __future__ import annotations

import hashlib

from domain.chunking import embedding_text
from domain.documents import Chunk


def content_key(chunk: Chunk) -> str:
    # surrogatepass: a file's text may hold a lone surrogate, which strict UTF-8 refuses to encode.
    return hashlib.sha256(embedding_text(chunk).encode("utf-8", "surrogatepass")).hexdigest()
