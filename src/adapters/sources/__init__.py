"""Adapters of the `DocumentSource` port: where files come from (a local folder, GitHub)."""
