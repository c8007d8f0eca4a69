"""Keeping reports current: schedules, data fingerprints, change summaries, notifications, reviewer feedback.

    schedules.py     parameters/schedules.yaml: codes, cron expressions, options, subscriptions
    fingerprint.py   what "the data changed" means (mirror file hashes, openFDA last_updated)
    changes.py       changes.json: what changed against the previous run (pure functions)
    history.py       what the runner records of a code's history into a new run (changes, open feedback)
    facts.py         the facts of the report's change section and feedback annex
    feedback.py      reviewer feedback beside a run (append-only JSON lines)
    notify/          Notifier protocol; SMTP e-mail and signed webhook; retries that never block a report
    refresh.py       refresh one code or many: check, rebuild when the data changed, notify
    beat.py          Celery Beat: the schedules as periodic refresh tasks
"""
