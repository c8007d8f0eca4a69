"""What the service keeps in Redis besides Celery's queue and results: job records, per-code locks and
counters for the metrics. Every key starts with ``cer:``.

    cer:job:<job id>          hash: who submitted what (subject, code, kind, source, mirror, time)
    cer:lock:code:<folder>    the job id writing that code's folder now (expires after the hard time limit)
    cer:count:jobs            hash: jobs finished, by outcome
    cer:count:stage_seconds   hash: <stage>:sum and <stage>:count of stage durations
    cer:count:http_cache      hash: hit / miss of the openFDA HTTP cache, summed over finished runs
    cer:count:openfda         hash: rate_limited: openFDA's 429 answers, summed over every run (failed ones too)
    cer:report:last_success   hash: code -> Unix time of its newest successful job
"""
from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

import redis

from .config import ServiceSettings

JOB_PREFIX = "cer:job:"
LOCK_PREFIX = "cer:lock:code:"
JOBS_COUNT, STAGE_SECONDS, HTTP_CACHE = "cer:count:jobs", "cer:count:stage_seconds", "cer:count:http_cache"
OPENFDA_COUNT, LAST_SUCCESS = "cer:count:openfda", "cer:report:last_success"

# a missing or stopped Redis answers within these, so the API says 503 at once instead of hanging
SOCKET_TIMEOUTS = {"socket_connect_timeout": 2.0, "socket_timeout": 5.0}

RedisDown = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


def connect(settings: ServiceSettings) -> redis.Redis:
    return redis.Redis.from_url(settings.redis_url, decode_responses=True, **SOCKET_TIMEOUTS)


@dataclass(frozen=True)
class JobRecord:
    """What was asked, by whom; kept beside Celery's result (which holds what happened)."""

    job_id: str
    subject: str
    code: str
    kind: str
    folder: str  # the code's folder under outputs/
    data_from: str
    mirror: str
    submitted_utc: str

    @classmethod
    def new(cls, job_id: str, **fields: Any) -> "JobRecord":
        now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()
        return cls(job_id=job_id, submitted_utc=now, **fields)


def save_job(client: redis.Redis, record: JobRecord, settings: ServiceSettings) -> None:
    key = JOB_PREFIX + record.job_id
    client.hset(key, mapping=asdict(record))
    client.expire(key, settings.job_keep_days * 86400)


def load_job(client: redis.Redis, job_id: str) -> JobRecord | None:
    data = client.hgetall(JOB_PREFIX + job_id)
    return JobRecord(**data) if data else None


def delete_job(client: redis.Redis, job_id: str) -> None:
    client.delete(JOB_PREFIX + job_id)


def count_job(client: redis.Redis, outcome: str) -> None:
    client.hincrby(JOBS_COUNT, outcome, 1)


def count_stages(client: redis.Redis, seconds_by_stage: dict[str, float]) -> None:
    pipe = client.pipeline()
    for stage, seconds in seconds_by_stage.items():
        pipe.hincrbyfloat(STAGE_SECONDS, f"{stage}:sum", seconds)
        pipe.hincrby(STAGE_SECONDS, f"{stage}:count", 1)
    pipe.execute()


def count_cache_use(client: redis.Redis, hits: int, misses: int) -> None:
    pipe = client.pipeline()
    pipe.hincrby(HTTP_CACHE, "hit", hits)
    pipe.hincrby(HTTP_CACHE, "miss", misses)
    pipe.execute()


def count_rate_limited(client: redis.Redis, answers: int) -> None:
    if answers:
        client.hincrby(OPENFDA_COUNT, "rate_limited", answers)


def note_success(client: redis.Redis, code: str, unix_time: float) -> None:
    client.hset(LAST_SUCCESS, code, repr(float(unix_time)))  # the exact time: rounding could move it past the job's end


def counters(client: redis.Redis, queue: str) -> dict[str, Any]:
    """The counter hashes, the last successes and the queue's length, for the metrics page."""
    pipe = client.pipeline()
    for key in (JOBS_COUNT, STAGE_SECONDS, HTTP_CACHE, OPENFDA_COUNT, LAST_SUCCESS):
        pipe.hgetall(key)
    pipe.llen(queue)
    jobs, stages, cache, openfda, last_success, queued = pipe.execute()
    return {"jobs": jobs, "stages": stages, "http_cache": cache, "openfda": openfda,
            "last_success": last_success, "queue_length": queued}
