"""What the MCP tools call: the use cases, each built fresh per call by its container provider.

Kept apart from `mcp_server` so the container can name it without importing the MCP SDK
(which takes over a second to import) in every CLI command.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from application.answering import AnswerQuestion
from application.jobs import GetJob, SubmitIndexJob
from application.reading import ReadIndexedFile
from application.repositories import ListRepositories, ResolveRepository
from application.search import Search
from entrypoints.source_input import LocalFolders


@dataclass(frozen=True)
class RepochatTools:
    list_repositories: Callable[[], ListRepositories]
    resolve_repository: Callable[[], ResolveRepository]
    search: Callable[[], Search]
    read_file: Callable[[], ReadIndexedFile]
    answer_question: Callable[[], AnswerQuestion]
    submit_index_job: Callable[[], SubmitIndexJob]
    get_job: Callable[[], GetJob]
    local_folders: LocalFolders
    """The folders `index_repository` may name: agents are remote callers, steered by what they read."""
