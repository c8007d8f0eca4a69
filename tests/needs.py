"""What a test needs from the machine: skip with the reason where it is missing, fail under CI=true.

CI installs everything the tests need (`.ci/run`), so there a missing tool or data folder is a
failure, never a silent skip.
"""
from __future__ import annotations

import os
from typing import NoReturn

import pytest


def missing(message: str) -> NoReturn:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("CI=true but " + message, pytrace=False)
    pytest.skip(message)
