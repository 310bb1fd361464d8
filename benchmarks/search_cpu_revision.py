"""The CPU ms per search, by mode, of the code of one checkout: run by `search_cpu.py --baseline-rev` for
the revision it compares with and for this one, each in a process of its own.

    python benchmarks/search_cpu_revision.py CODE_ROOT DATA_DIR QUERIES_JSON

It imports only what every revision since the search use case has: the container, `SearchRequest`,
`RetrievalMode` and `Settings`, from CODE_ROOT/src; prints {mode: CPU ms per search} as JSON.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path


async def measure(data_dir: Path, queries: list[str]) -> dict[str, float]:
    from application.search import SearchRequest
    from domain.retrieval import RetrievalMode
    from entrypoints.container import Container, running
    from entrypoints.settings import Settings

    settings = Settings(
        data_dir=data_dir, embeddings="hashing", llm="extractive", chroma_url=None, job_queue="inprocess"
    )
    container = Container(settings=settings, process_name="repochat search CPU benchmark")
    figures: dict[str, float] = {}
    async with running(container):
        search = container.search()
        await search.execute(SearchRequest(queries[0], 5, "default"))  # the keyword index catches up
        for mode in RetrievalMode:
            started = time.process_time()
            for query in queries:
                await search.execute(SearchRequest(query, 5, "default", mode=mode))
            figures[mode.value] = 1000 * (time.process_time() - started) / len(queries)
    return figures


def main() -> None:
    root, data_dir, queries = (Path(argument) for argument in sys.argv[1:4])
    sys.path[:0] = [str(root / "src")]
    print(json.dumps(asyncio.run(measure(data_dir, json.loads(queries.read_text())))))


if __name__ == "__main__":
    main()
