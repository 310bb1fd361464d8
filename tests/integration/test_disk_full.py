"""A full disk, made for the test: a 20 MB tmpfs holding the data folder.

One small documentation folder is indexed, then a larger one fills the disk. The failed job must
say why, and the previous version must stay whole and searchable, by new processes too (each CLI
command is a fresh start), without the disk growing.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import chromadb
import pytest
from chromadb.config import Settings as ChromaSettings

from tests.integration.helpers import ROOT, repochat, repochat_env, unavailable

SMALL_DOCS = ROOT.parent / "shared" / "corpora" / "vite-docs"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 20 MB filesystem of its own (tmpfs; mounting needs root, as CI has)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        reason = f"cannot mount a tmpfs: {mounted.stderr.decode().strip()}"
        unavailable(reason)
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_a_job_that_fills_the_disk_fails_clearly_and_the_previous_version_survives(
    small_disk: Path, corpus: Path
) -> None:
    # The reserve must leave room for what follows a failed job on this small disk: Chroma applying its
    # log (the job's chunks and their deletion), and the keyword index the first search writes.
    env = repochat_env(small_disk / "data", REPOCHAT_DISK_RESERVE_MB="8")
    first = repochat("index", str(SMALL_DOCS), env=env)
    assert first.returncode == 0, first.stderr

    filled = repochat("index", str(corpus), env=env)
    assert filled.returncode == 1, filled.stdout + filled.stderr
    assert "REPOCHAT_DISK_RESERVE_MB" in filled.stdout + filled.stderr
    assert "free some space or grow the disk" in filled.stdout + filled.stderr

    found = repochat("search", "configuring vite config file", "-k", "3", "--json", env=env)
    assert found.returncode == 0, found.stderr
    assert "docs/config/index.md" in found.stdout
    listed = repochat("repos", env=env)
    assert listed.returncode == 0 and str(SMALL_DOCS.resolve()) in listed.stdout
    assert str(corpus) not in listed.stdout
    assert stored_chunks(small_disk / "data", f"local:{corpus}") == 0  # the failed job's writes are gone

    again = repochat("index", str(SMALL_DOCS), env=env)
    assert again.returncode == 0, again.stderr


def stored_chunks(data_dir: Path, repository: str) -> int:
    chroma = chromadb.PersistentClient(str(data_dir / "chroma"), settings=ChromaSettings(anonymized_telemetry=False))
    return len(chroma.get_collection("default").get(where={"repository": repository}, include=[])["ids"])
