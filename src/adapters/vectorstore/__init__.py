"""Adapters of the `VectorIndex` and `ManifestStore` ports on Chroma, embedded or a server (`REPOCHAT_CHROMA_URL`)."""
