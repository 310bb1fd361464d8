"""Ports: what the use cases need from the outside world, as structural protocols, one module per family.

Adapters implement these; the composition root (entrypoints.container) picks which.
"""
