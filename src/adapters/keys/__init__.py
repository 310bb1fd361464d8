"""The KeyStore port: API keys kept in Chroma, and a short-lived cache of them per process."""
