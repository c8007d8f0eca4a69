"""One router module per resource: reports (submit), jobs (status), codes (runs and files), signals,
health (liveness, readiness, metrics)."""
