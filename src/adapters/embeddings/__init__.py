"""Adapters of the `Embedder` port, one module per `REPOCHAT_EMBEDDINGS` value: `local`, `openai`, `hashing`."""
