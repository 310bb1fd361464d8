"""Adapters of the `CodeOutline` port: the symbols of source files, so code is chunked at their bounds."""
