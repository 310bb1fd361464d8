"""The `JobQueue` port on a Hatchet engine: index jobs as runs of the `repochat-index` task.

- `contract`: what the submitting side and the tasks share: task names, the job and concurrency
  keys, and the typed task inputs and outputs.
- `progress`: the progress lines a job logs, their writer and their reader.
- `runs`: Hatchet runs as domain `Job`s (pure translation, no I/O).
- `queue`: `HatchetJobQueue`, the port: submits, reads and cancels runs.
- `client`: `connect_hatchet`, the SDK client configured by HATCHET_CLIENT_*.
- `workflows`: the task declarations that `repochat worker` runs; their bodies call
  `IndexRepository.execute` (a job) and `IndexRepository.write` (a batch).
- `sync_workflow`: the cron-triggered task that runs a tick of the sync schedule.
- `fan_out`: `FanOutBatches`, the `BatchRunner` that runs a job's batches as child tasks on any worker.
- `task_policy`: timeouts, retries and which failures are retried.
- `log_context`: the job and task a worker's log record belongs to.

Nothing here imports hatchet_sdk on import of the package (it takes seconds): only the
modules that need it do, and the container imports those when the settings select Hatchet.
"""
