"""LocalFolderSource lists what it can read and skips, counted, what it cannot: one bad file fails no job."""

from __future__ import annotations

from pathlib import Path

from adapters.sources.local_folder import LocalFolderSource
from domain.sources import SourceKind, SourceSpec


async def test_links_that_loop_or_lead_nowhere_or_out_of_the_folder_are_skipped_as_unsafe(tmp_path: Path) -> None:
    folder, outside = tmp_path / "docs", tmp_path / "secret.md"
    folder.mkdir()
    outside.write_text("# secret\n")
    (folder / "guide.md").write_text("# Guide\n\nHow it works.\n")
    (folder / "loop1.md").symlink_to(folder / "loop2.md")
    (folder / "loop2.md").symlink_to(folder / "loop1.md")
    (folder / "nowhere.md").symlink_to(folder / "gone.md")
    (folder / "escape.md").symlink_to(outside)
    (folder / "inside.md").symlink_to(folder / "guide.md")

    snapshot = await LocalFolderSource().snapshot(SourceSpec(SourceKind.LOCAL, str(folder)), None)

    assert [entry.path for entry in snapshot.files or ()] == ["guide.md", "inside.md"]
    assert snapshot.skipped.unsafe == 4
