"""The code corpora of the retrieval benchmark: real repositories at a pinned commit, and their question kinds.

Their files are never committed: each is extracted (`git archive`) from the bare git directory the
`fetch` tool brings (`<mirrors>/<owner>+<name>/repo`) into the benchmark's data folder, once; a
missing snapshot or commit stops the run with a message saying what to fetch
(benchmarks/questions/code/README.md records each repository's license and commit).
"""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

CODE_QUESTIONS = Path(__file__).resolve().parent / "questions" / "code"
EXTRACTED = ".commit"
"""`<name>.commit`, beside a corpus' folder, written last: the commit its files are, so a re-run extracts nothing."""


@dataclass(frozen=True)
class CodeRepository:
    name: str
    """The corpus' name, and its question file's (`questions/code/<name>.jsonl`)."""
    github: str
    """owner/name"""
    commit: str

    @property
    def questions(self) -> Path:
        return CODE_QUESTIONS / f"{self.name}.jsonl"

    def mirror(self, mirrors: Path) -> Path:
        return mirrors / self.github.replace("/", "+") / "repo"


CODE_REPOSITORIES = (
    CodeRepository("chi", "go-chi/chi", "735ae2b87f8c733d616e809ae86e0985c1bc3350"),
    CodeRepository("httpx", "encode/httpx", "ae1b9f66238f75ced3ced5e4485408435de10768"),
)


@dataclass(frozen=True)
class QuestionLabel:
    kind: str
    """implementation, behaviour, error or usage; "" for documentation questions."""
    held_out: bool


def labels(path: Path) -> list[QuestionLabel]:
    """The kind and held-out mark of each question of a question file, in its order (blank lines skipped)."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [QuestionLabel(str(row.get("kind", "")), bool(row.get("held_out", False))) for row in rows]


def materialised(repository: CodeRepository, mirrors: Path, into: Path) -> Path:
    """The folder holding `repository`'s files at its commit, extracted from its snapshot unless already there."""
    folder = into / repository.name
    marker = into / f"{repository.name}{EXTRACTED}"
    if marker.is_file() and marker.read_text().strip() == repository.commit:
        return folder
    git_dir = repository.mirror(mirrors)
    if not git_dir.is_dir():
        raise SystemExit(
            f"{repository.name}: no snapshot of {repository.github} at {git_dir}; bring it with the fetch tool "
            f"(fetch github:{repository.github}) or point --mirrors at the folder that holds it"
        )
    archive = subprocess.run(
        ["git", "--git-dir", str(git_dir), "archive", "--format=tar", repository.commit],
        capture_output=True,
        check=False,
    )
    if archive.returncode != 0:
        raise SystemExit(
            f"{repository.name}: commit {repository.commit} is not in {git_dir} "
            f"({archive.stderr.decode(errors='replace').strip()}); fetch github:{repository.github} again"
        )
    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(folder, filter="data")
    marker.write_text(repository.commit + "\n")
    return folder


def by_label(values: Sequence[object], question_labels: Sequence[QuestionLabel]) -> dict[str, list[int]]:
    """The indices of the questions of each kind (code questions have one), and of the tuned and held-out parts."""
    groups: dict[str, list[int]] = {}
    for index, label in enumerate(question_labels[: len(values)]):
        if label.kind:
            groups.setdefault(f"kind {label.kind}", []).append(index)
        groups.setdefault("held out" if label.held_out else "tuned", []).append(index)
    return dict(sorted(groups.items()))
