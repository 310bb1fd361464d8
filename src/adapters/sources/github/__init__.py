"""GitHub document source: implements application.ports.sources.DocumentSource over the GitHub REST API.

How a sync goes, and why it is cheap:

1. The ref (branch, tag, SHA; the default branch when none) is resolved to a commit SHA with
   `GET /repos/{o}/{r}/commits/{ref}` (`Accept: application/vnd.github.sha`), sending the ETag
   of the previous sync as `If-None-Match`. A 304, or the same commit as the live manifest,
   means "unchanged": the snapshot has `files=None` and nothing else is requested (at most
   two requests: the repository, for its default branch, and the commit).
2. Otherwise the tree is listed once (`git/trees/{sha}?recursive=1`): paths, sizes, blob SHAs.
   The adapter diffs it against the previous manifest to count the files to fetch.
3. Contents come from one `tarball` download (streamed to a temporary file, extracted off the
   event loop, only the listed files kept) when at least `archive_threshold` files are to be
   fetched, else from one `git/blobs/{sha}` request per file. `snapshot` makes the choice once
   and writes it into the version's `fetch_plan`, which `read` goes by alone: the use case reads
   in many small batches, on any worker, and each worker downloads the archive at most once.
4. A truncated tree (GitHub caps recursive listings) is listed from the archive instead.

Rate limits (403 with `x-ratelimit-remaining: 0`, 403/429 with `retry-after`) are waited out
up to `max_rate_limit_wait` seconds, 5xx answers and network failures are retried with
exponential backoff and jitter, and everything else becomes a domain error. The token is sent
as `Authorization: Bearer` to the API only (httpx drops it on redirects to another host, such
as codeload) and never appears in logs or error messages.

Archive members are never written under their own names: their content is copied into files
named by number, so paths that escape the root cannot write anywhere. Absolute or `..` paths,
names that are not UTF-8, links, devices and oversized members are skipped and counted. An
archive has a budget (`archive.ArchiveBudget`): a number of files, and bytes in proportion to
what the tree listing promised or, without a listing, an absolute cap; past it the job fails
with a message naming the cap and its setting. Archives are extracted under the data folder, in
a folder of the process's own (`extraction`), removed when the job ends (`release`).

Modules: `http` (requests, retries, rate limits, error translation), `archive` (tarball
download, safe extraction, the budget), `extraction` (the folders archives go to), `blobs`
(one request per file), `source` (GitHubArchiveSource).
"""

from adapters.sources.github.source import GitHubArchiveSource

__all__ = ["GitHubArchiveSource"]
