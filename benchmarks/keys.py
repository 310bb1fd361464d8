"""API key benchmark: what identifying a request's caller costs, with the stored keys cached and without.

    python benchmarks/keys.py [--chroma-url http://127.0.0.1:8000] [--keys 50] [--calls 2000]

`IdentifyCaller.execute` of the server, as each /v1 request and /mcp call runs it, over `--keys`
stored keys in Chroma (embedded in a temporary folder, or the server of `--chroma-url`), for:
- the baseline of the same run: one of REPOCHAT_API_KEYS (compared in memory, no store read);
- a stored key through `CachedKeys` as the server builds it (REPOCHAT_KEY_CACHE_SECONDS=5): one
  read of every key per 5 s, the rest a dictionary lookup;
- a stored key with no cache (REPOCHAT_KEY_CACHE_SECONDS=0): a Chroma read per request;
- an unknown key (refused), cached.
Each figure is the median and 95th percentile of `--calls` calls, in microseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from chromadb.api import ClientAPI

from adapters.data_dir_lock import DataDirLock
from adapters.keys.cache import CachedKeys
from adapters.keys.chroma_key_store import ChromaKeyStore
from adapters.vectorstore.chroma_client import open_chroma_server, open_embedded_chroma
from application.access import IdentifyCaller
from application.keys import CreateKey
from application.ports.access import KeyStore
from domain.access import Role, Scope

ENV_KEY = "env-admin-key-for-the-benchmark"


async def timings(identify: IdentifyCaller, key: str, calls: int) -> list[float]:
    spent = []
    for _ in range(calls):
        started = time.perf_counter()
        await identify.execute(key)
        spent.append((time.perf_counter() - started) * 1e6)
    return spent


async def measure(client: ClientAPI, keys: int, calls: int) -> list[tuple[str, list[float]]]:
    store = ChromaKeyStore(client)
    prefix = f"bench-{os.getpid()}"
    created = [await CreateKey(store).execute(f"{prefix}-{n}", Role.READ, Scope(("docs",))) for n in range(keys)]
    key = created[-1].key

    def identify(keys: KeyStore) -> IdentifyCaller:
        return IdentifyCaller(frozenset({ENV_KEY}), keys)

    cached = identify(CachedKeys(store, 5.0))
    try:
        return [
            ("REPOCHAT_API_KEYS (baseline)", await timings(identify(store), ENV_KEY, calls)),
            ("stored key, cached 5 s", await timings(cached, key, calls)),
            ("stored key, no cache (a Chroma read each)", await timings(identify(CachedKeys(store, 0)), key, calls)),
            ("unknown key, cached 5 s", await timings(cached, "rc_not-a-key", calls)),
        ]
    finally:
        for new in created:
            await store.revoke(new.stored.name)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chroma-url", help="a Chroma server; default: embedded Chroma in a temporary folder")
    parser.add_argument("--keys", type=int, default=50)
    parser.add_argument("--calls", type=int, default=2000)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        if args.chroma_url:
            client, where = open_chroma_server(args.chroma_url), f"Chroma server {args.chroma_url}"
        else:
            lock = DataDirLock(Path(folder), "benchmark")
            lock.acquire()
            client, where = open_embedded_chroma(Path(folder), lock), "embedded Chroma"
        results = asyncio.run(measure(client, args.keys, args.calls))
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"repochat key benchmark: {args.keys} stored keys in {where}, {args.calls} calls each; load average {load}")
    print("\n| caller identified by | median µs | p95 µs |\n|---|---|---|")
    for label, spent in results:
        p95 = statistics.quantiles(spent, n=20)[-1]
        print(f"| {label} | {statistics.median(spent):.1f} | {p95:.1f} |")


if __name__ == "__main__":
    main()
