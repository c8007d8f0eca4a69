"""Requests per subject per minute, counted in Redis so every API process shares one count.

pyrate-limiter's Redis bucket (the same library that paces openFDA requests): a sliding window of one
timestamp per request under the key ``cer:rate:<sha256 of the subject>``. A refused request gets
the seconds until the oldest request leaves the window, which the API returns as ``Retry-After``.
"""
from __future__ import annotations

import hashlib
import math

import redis
from pyrate_limiter import Duration, Rate, RateItem, RedisBucket
from pyrate_limiter.buckets.redis_bucket import LuaScript

KEY_PREFIX = "cer:rate:"


class SubjectRateLimit:
    def __init__(self, client: redis.Redis, per_minute: int) -> None:
        self.client = client
        self.rates = [Rate(per_minute, Duration.MINUTE)]
        self._script: str | None = None  # the bucket's Lua script, loaded once (again after a Redis restart)

    def admit(self, subject: str) -> int | None:
        """None when the request may go on; else the whole seconds to wait before the next one."""
        key = KEY_PREFIX + hashlib.sha256(subject.encode("utf-8")).hexdigest()[:32]
        if self._script is None:
            self._script = self.client.script_load(LuaScript.PUT_ITEM)
        bucket = RedisBucket(self.rates, self.client, key, self._script)
        item = RateItem(subject, bucket.now())
        bucket.leak(item.timestamp)
        try:
            admitted = bucket.put(item)
        except redis.exceptions.NoScriptError:  # Redis restarted without the script
            self._script = None
            return self.admit(subject)
        self.client.expire(key, int(Duration.MINUTE) // 1000 + 1)
        if admitted:
            return None
        return max(1, math.ceil(bucket.waiting(item) / 1000))
