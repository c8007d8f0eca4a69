"""Parts of the service on their own: settings, tokens (HS256 and RS256), submissions' overrides, the
per-code lock (with a real redis-server), the progress callback and the run-folder interface."""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from pathlib import Path
from types import SimpleNamespace

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from cer_lib.errors import ParameterError, SourceUnavailable, StageFailed
from cer_lib.service import runs
from cer_lib.service.config import ServiceError, ServiceSettings
from cer_lib.service.jobs import JobFailed, JobSpec, WAITING, is_transient, overrides_from_set, run_job
from cer_lib.service.progress import StageTracker
from cer_lib.service.security import InvalidToken, mint_token, verify_token
from service_stack import ServiceStack

SECRET = "s" * 40


def settings(monkeypatch, **env: str) -> ServiceSettings:
    for name, value in env.items():
        monkeypatch.setenv(f"CER_{name.upper()}", value)
    return ServiceSettings.load()


def test_settings_parse_lists_and_refuse_bad_values(monkeypatch, tmp_path):
    s = settings(monkeypatch, cors_origins="https://a.example, https://b.example",
                 mirrors=f"big={tmp_path}, eu-2=/data/eu", api_port="9000")
    assert s.cors_origins == ["https://a.example", "https://b.example"] and s.api_port == 9000
    assert s.mirror_folder("big") == tmp_path and s.mirror_folder(None) is None and s.mirror_names == ["big", "demo", "eu-2"]
    with pytest.raises(ServiceError, match="no mirror named '../x': choose one of big, demo, eu-2"):
        s.mirror_folder("../x")
    with pytest.raises(ServiceError, match="CER_MIRRORS entry '/data/x' is not name=folder"):
        settings(monkeypatch, mirrors="/data/x")
    monkeypatch.delenv("CER_MIRRORS")
    with pytest.raises(ServiceError, match="at least 32 characters"):
        settings(monkeypatch, jwt_secret="short")
    with pytest.raises(ServiceError, match="not both"):
        settings(monkeypatch, jwt_secret=SECRET, jwt_public_key="x")


def test_hs256_secret_file_is_made_once_private(monkeypatch, tmp_path):
    s = settings(monkeypatch, jwt_secret_file=str(tmp_path / "svc" / "secret"))
    with pytest.raises(ServiceError, match="no token signing secret"):
        s.jwt_verification_key()
    token = mint_token(s, "me", "author")
    assert (tmp_path / "svc" / "secret").stat().st_mode & 0o777 == 0o600
    assert verify_token(token, s).subject == "me" and verify_token(token, s).can("viewer")
    assert not verify_token(token, s).can("admin")


def test_rs256_tokens_checked_with_the_public_key_only(monkeypatch, tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = tmp_path / "private.pem"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    (tmp_path / "public.pem").write_bytes(public)
    s = settings(monkeypatch, jwt_public_key=str(tmp_path / "public.pem"))
    with pytest.raises(ValueError, match="--private-key"):
        mint_token(s, "me", "viewer")
    token = mint_token(s, "me", "viewer", private_key=private)
    assert verify_token(token, s).role == "viewer"
    # an HS256 token signed with the public key's text (the classic algorithm confusion) is refused
    header = jwt.utils.base64url_encode(b'{"alg":"HS256","typ":"JWT"}')
    claims = jwt.utils.base64url_encode(b'{"sub":"x","role":"admin","exp":%d}' % int(dt.datetime.now().timestamp() + 600))
    mac = hmac.new(public, header + b"." + claims, hashlib.sha256).digest()
    forged = (header + b"." + claims + b"." + jwt.utils.base64url_encode(mac)).decode()
    with pytest.raises(InvalidToken):
        verify_token(forged, s)
    with pytest.raises(InvalidToken, match="not signed with RS256"):
        verify_token(jwt.encode({"sub": "x", "role": "admin", "exp": 9999999999}, SECRET, algorithm="HS256"), s)


def test_set_values_become_the_cli_overrides():
    assert overrides_from_set({"methods.forecast.horizon_months": 6, "window.start": "2016-01-01",
                               "methods.trend.alpha": 0.01}) == {
        "methods": {"forecast": {"horizon_months": 6}, "trend": {"alpha": 0.01}}, "window": {"start": "2016-01-01"}}
    for bad, reason in [("mirror", "choose a configured mirror"), ("code", "its own field"),
                        ("../x", "not a parameter path"), ("Methods.X", "not a parameter path")]:
        with pytest.raises(ParameterError, match=reason):
            overrides_from_set({bad: 1})


def test_transient_source_errors_are_the_only_ones_retried():
    assert is_transient(SourceUnavailable("down"))
    assert is_transient(StageFailed("01_collect", 4, "SourceUnavailable: openfda: no answer", "01_collect.ipynb"))
    assert is_transient(StageFailed("01_collect", 4, "RateLimited: HTTP 429", "01_collect.ipynb"))
    assert not is_transient(StageFailed("03_analyze", 4, "ValueError: bad", "03_analyze.ipynb"))
    assert not is_transient(ParameterError("bad parameter"))


def test_stage_tracker_reads_run_reports_progress_messages():
    seen = []
    tracker = StageTracker(lambda t: seen.append((t.run_id, t.stage)))
    for message in ["HWC: run 20260101T000000Z-abc1234 (from mirror)", "  [1/5] 01_collect ...", "        done in 2.0 s",
                    "  [5/5] 05_report ...", "  [+] assembling cer.html and cer.pdf ...", "HWC: finished in 9 s -> x"]:
        tracker(message)
    assert seen == [("20260101T000000Z-abc1234", "starting"), ("20260101T000000Z-abc1234", "01_collect"),
                    ("20260101T000000Z-abc1234", "05_report"), ("20260101T000000Z-abc1234", "assemble")]


def test_second_job_for_a_code_waits_for_the_lock_then_says_why(monkeypatch, tmp_path):
    stack = ServiceStack(tmp_path)
    stack.start_redis()
    try:
        s = settings(monkeypatch, jwt_secret=SECRET, redis_url=f"redis://127.0.0.1:{stack.redis_port}/0",
                     code_lock_wait="1")
        import redis

        redis.Redis(port=stack.redis_port).set("cer:lock:code:HWC", "job-A")
        states = []
        task = SimpleNamespace(request=SimpleNamespace(id="job-B", retries=0),
                               backend=SimpleNamespace(get_task_meta=lambda _: {"status": "PENDING"}),
                               update_state=lambda state, meta: states.append((state, dict(meta))))
        with pytest.raises(JobFailed, match=r"another job \(job-A\) kept writing HWC for more than 1 s"):
            run_job(task, JobSpec("HWC", "product_code", "mirror"), s)
        assert states == [(WAITING, {"stage": "waiting for job job-A, which is writing HWC", "run_id": None, "lost": 0})]
    finally:
        stack.stop()


def test_run_folder_interface(tmp_path):
    code = tmp_path / "HWC"
    finished, older = "20260102T000000Z-abcdef1", "20260101T000000Z-abcdef0"
    for name in (finished, older, f".tmp-20260103T000000Z-abcdef2", f".failed-20260104T000000Z-abcdef3"):
        (code / name).mkdir(parents=True)
    (code / finished / "cer.pdf").write_bytes(b"%PDF")
    (code / finished / "parameters.yaml").write_text("x")
    (code / "latest").symlink_to(finished)
    assert [(c.code, c.runs, c.latest_run_id) for c in runs.list_codes(tmp_path)] == [("HWC", 2, finished)]
    listed = runs.list_runs(tmp_path, "HWC")
    assert [(r.run_id, r.latest, r.files) for r in listed] == [(finished, True, ("cer.pdf",)), (older, False, ())]
    assert runs.run_file(tmp_path, "HWC", "latest", "cer.pdf") == code / finished / "cer.pdf"
    for args in [("HWC", finished, "parameters.yaml"), ("HWC", ".tmp-20260103T000000Z-abcdef2", "cer.pdf"),
                 ("..", finished, "cer.pdf"), ("HWC", "latest/..", "cer.pdf"), ("HWC", older, "cer.pdf")]:
        with pytest.raises(runs.RunNotFound):
            runs.run_file(tmp_path, *args)
    assert runs.mark_failed(tmp_path, "HWC", "20260103T000000Z-abcdef2") == code / ".failed-20260103T000000Z-abcdef2"
    assert runs.mark_failed(tmp_path, "HWC", "20260103T000000Z-abcdef2") is None
    assert runs.shown(tmp_path, f"kept at {tmp_path}/HWC/.failed-x/01_collect.ipynb") == "kept at outputs/HWC/.failed-x/01_collect.ipynb"
    assert Path(runs.REPORT_FILES[0]).suffix == ".pdf"
