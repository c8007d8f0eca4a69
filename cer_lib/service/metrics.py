"""``GET /metrics``: Prometheus text.

Measured in the API process: ``cer_http_requests_total`` and ``cer_http_request_seconds`` by route
template (``/v1/jobs/{job_id}``, never the raw path), method and status. Counted by the workers in
Redis (`cer_lib.service.store`) and read at each scrape, so every worker is included:
``cer_jobs_total`` by outcome (succeeded, failed, retried, lost), ``cer_stage_seconds`` (sum and
count per stage), ``cer_http_cache_responses_total`` (openFDA answers from the cache or the network),
``cer_openfda_rate_limited_total`` (openFDA's 429 answers, failed runs included),
``cer_report_last_success_timestamp_seconds`` per code, and ``cer_queue_length`` (jobs waiting in
the Celery queue, read from the broker at each scrape). Read from the schedules file at each scrape:
``cer_schedule_interval_seconds`` per scheduled code (the stale-report alert compares the newest
success with it).

The workers count what a run's request log says with `cer_lib.service.requestlog.request_counts`.
"""
from __future__ import annotations

from collections.abc import Iterator

import redis
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric, SummaryMetricFamily
from prometheus_client.registry import Collector

from . import store
from .worker import QUEUE

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
class WorkerCounters(Collector):
    """Reads the workers' counters from Redis at each scrape (none when Redis is down)."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def collect(self) -> Iterator[Metric]:
        try:
            counts = store.counters(self.client, QUEUE)
        except store.RedisDown:
            return
        jobs = CounterMetricFamily("cer_jobs", "Report jobs finished, by outcome", labels=["outcome"])
        for outcome, value in sorted(counts["jobs"].items()):
            jobs.add_metric([outcome], float(value))
        yield jobs
        stages = SummaryMetricFamily("cer_stage_seconds", "Seconds per pipeline stage of finished reports", labels=["stage"])
        names = sorted({key.rsplit(":", 1)[0] for key in counts["stages"]})
        for stage in names:
            stages.add_metric([stage], count_value=float(counts["stages"].get(f"{stage}:count", 0)),
                              sum_value=float(counts["stages"].get(f"{stage}:sum", 0)))
        yield stages
        cache = CounterMetricFamily("cer_http_cache_responses", "openFDA answers of finished reports, "
                                    "from the HTTP cache or the network", labels=["result"])
        for result in ("hit", "miss"):
            cache.add_metric([result], float(counts["http_cache"].get(result, 0)))
        yield cache
        yield CounterMetricFamily("cer_openfda_rate_limited", "openFDA answers of 429 Too Many Requests, every run",
                                  value=float(counts["openfda"].get("rate_limited", 0)))
        last = GaugeMetricFamily("cer_report_last_success_timestamp_seconds",
                                 "Unix time of the newest successful report job, per code", labels=["code"])
        for code, seconds in sorted(counts["last_success"].items()):
            last.add_metric([code], float(seconds))
        yield last
        queue = GaugeMetricFamily("cer_queue_length", "Report jobs waiting in the queue", labels=["queue"])
        queue.add_metric([QUEUE], float(counts["queue_length"]))
        yield queue


class ScheduleIntervals(Collector):
    """``cer_schedule_interval_seconds{code}`` from the schedules file (`cer_lib.refresh.schedules`)."""

    def collect(self) -> Iterator[Metric]:
        import datetime as dt

        from ..errors import CerError
        from ..refresh.schedules import load_schedules

        try:
            entries = load_schedules().schedules
        except CerError:  # a broken file is reported by the schedules route and Beat, not by a scrape
            return
        gauge = GaugeMetricFamily("cer_schedule_interval_seconds", "Seconds between two scheduled refreshes, per code",
                                  labels=["code"])
        now = dt.datetime.now(dt.timezone.utc)
        for entry in entries:
            gauge.add_metric([entry.code], entry.interval_seconds(now))
        yield gauge


class ApiMetrics:
    """The API process's registry: request counts and latencies, plus the workers' counters."""

    def __init__(self, client: redis.Redis) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("cer_http_requests", "API requests", ["route", "method", "status"], registry=self.registry)
        self.latency = Histogram("cer_http_request_seconds", "API request latency", ["route", "method"],
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        self.registry.register(WorkerCounters(client))
        self.registry.register(ScheduleIntervals())

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route, method).observe(seconds)
