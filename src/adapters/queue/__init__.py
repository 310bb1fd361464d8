"""Adapters of the `JobQueue` port, one per `REPOCHAT_JOB_QUEUE` value: `inprocess`, `hatchet`."""
