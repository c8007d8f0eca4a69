"""The report service: an authenticated HTTP API over the same pipeline, Celery workers on Redis.

    config.py    ServiceSettings: every CER_* variable of the service, one pydantic-settings object
    security.py  bearer tokens (JWT): mint (`cer token`) and verify
    deps.py      current_user / require_role and the shared parts, as FastAPI dependencies
    app.py       the FastAPI app: routers, CORS, body limits, audit log, metrics; `cer serve`
    routers/     one module per resource: reports, jobs, codes, signals, health
    schemas.py   request and response models (the OpenAPI schema)
    jobs.py      a report job: checked as the CLI checks, built by `run_report` in a worker
    worker.py    the Celery app and its task (a thin wrapper around jobs.run_job); `cer worker`
    progress.py  the job's stage from run_report's progress callback
    runs.py      everything the service knows about run folders (list, find, serve, mark failed)
    store.py     job records, per-code locks and counters in Redis
    ratelimit.py requests per subject per minute (pyrate-limiter on Redis)
    audit.py     the JSON-lines audit log
    metrics.py   Prometheus metrics
    local.py     `make serve`: Redis, a worker and the API on one machine, stopped together
"""
