"""cer.html and the book in a real browser: headless Chromium driven over the DevTools protocol.

Chromium is talked to through ``--remote-debugging-pipe`` (file descriptors 3 and 4, NUL-separated
JSON), so the tests need no extra package and open no port. Each page is loaded from ``file://``;
the test collects console errors, uncaught exceptions, failed loads and every network request,
reads the DOM and takes a screenshot.

Without Chromium the tests skip with a reason; under ``CI=true`` they fail (CI installs it).
"""
from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from needs import missing


pytestmark = pytest.mark.browser

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio",
         "--disable-extensions", "--disable-default-apps", "--no-default-browser-check"]


def _chromium() -> str:
    for candidate in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if candidate and shutil.which(candidate):
            return shutil.which(candidate)  # type: ignore[return-value]
    missing("headless Chromium not found (apt-get install chromium, or set CHROMIUM=/path/to/chrome)")


class Browser:
    """A minimal DevTools-protocol client over Chromium's debugging pipe."""

    def __init__(self, executable: str, profile: Path) -> None:
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()

        def plumb() -> None:  # the child reads commands on fd 3 and writes replies on fd 4
            os.dup2(to_chrome_r, 3)
            os.dup2(from_chrome_w, 4)

        self.proc = subprocess.Popen(
            [executable, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-pipe", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=plumb, pass_fds=(3, 4),
        )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._next_id = 0
        self._replies: dict[int, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        buffer = b""
        while True:
            try:
                chunk = os.read(self._from_chrome, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                with self._cond:
                    self._cond.notify_all()
                return
            buffer += chunk
            while b"\0" in buffer:
                raw, buffer = buffer.split(b"\0", 1)
                message = json.loads(raw)
                with self._cond:
                    if "id" in message:
                        self._replies[message["id"]] = message
                    else:
                        self.events.append(message)
                    self._cond.notify_all()

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None,
             timeout: float = 30) -> dict[str, Any]:
        self._next_id += 1
        ident = self._next_id
        message: dict[str, Any] = {"id": ident, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        with self._cond:
            while ident not in self._replies:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise TimeoutError(f"no reply to {method}")
                self._cond.wait(0.1)
            reply = self._replies.pop(ident)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def wait_for(self, method: str, session: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for event in self.events:
                    if event.get("method") == method and event.get("sessionId") == session:
                        return event
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no {method} event")
                self._cond.wait(0.1)

    def open(self, url: str, width: int = 1200, height: int = 900) -> "Page":
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable", session=session)
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}, session=session)
        self.send("Page.navigate", {"url": url}, session=session)
        self.wait_for("Page.loadEventFired", session)
        time.sleep(0.7)  # late console messages, deferred scripts
        return Page(self, session)

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=5)
        except (TimeoutError, RuntimeError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._to_chrome, self._from_chrome):
            try:
                os.close(fd)
            except OSError:
                pass


class Page:
    def __init__(self, browser: Browser, session: str) -> None:
        self.browser, self.session = browser, session

    def evaluate(self, expression: str) -> Any:
        result = self.browser.send("Runtime.evaluate", {"expression": expression, "returnByValue": True},
                                   session=self.session)
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"])
        return result["result"].get("value")

    def screenshot(self, path: Path, full_page: bool = False) -> Path:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            params["captureBeyondViewport"] = True
        data = self.browser.send("Page.captureScreenshot", params, session=self.session)["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def _events(self, method: str) -> list[dict[str, Any]]:
        return [e["params"] for e in self.browser.events if e.get("sessionId") == self.session and e.get("method") == method]

    def console_errors(self) -> list[str]:
        errors = [" ".join(str(a.get("value", a.get("description", ""))) for a in e.get("args", []))
                  for e in self._events("Runtime.consoleAPICalled") if e.get("type") in ("error", "assert")]
        errors += [e["exceptionDetails"].get("exception", {}).get("description") or e["exceptionDetails"].get("text", "")
                   for e in self._events("Runtime.exceptionThrown")]
        errors += [f"{e['entry'].get('text')} {e['entry'].get('url', '')}".strip()
                   for e in self._events("Log.entryAdded") if e["entry"].get("level") == "error"]
        return errors

    def requests(self) -> list[str]:
        return [e["request"]["url"] for e in self._events("Network.requestWillBeSent")]

    def failed_loads(self) -> list[str]:
        return [f"{e.get('errorText')} {e.get('requestId')}" for e in self._events("Network.loadingFailed")
                if not e.get("canceled")]


def _ink(png: Path) -> float:
    from PIL import Image

    with Image.open(png) as image:
        grey = image.convert("L")
        histogram = grey.histogram()
        return sum(histogram[:235]) / sum(histogram)


# ----------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    executable = _chromium()
    instance = Browser(executable, tmp_path_factory.mktemp("chromium-profile"))
    try:
        instance.send("Browser.getVersion", timeout=60)
    except (TimeoutError, RuntimeError) as exc:
        instance.close()
        pytest.fail(f"Chromium did not answer on the DevTools pipe: {exc}")
    yield instance
    instance.close()


@pytest.fixture(scope="module")
def published(book_site: dict, tmp_path_factory) -> dict[str, Path]:
    """The session's book (`conftest.book_site`): its hostile run and index; screenshots go elsewhere."""
    return {"hostile": book_site["hwc"], "index": book_site["index"], "shots": tmp_path_factory.mktemp("screenshots")}


def _shot(page: Page, published: dict[str, Path], name: str, **kw: Any) -> Path:
    published["shots"].mkdir(exist_ok=True)
    path = page.screenshot(published["shots"] / f"{name}.png", **kw)
    keep = os.environ.get("CER_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, Path(keep) / path.name)
    return path


def _external(urls: list[str]) -> list[str]:
    return [u for u in urls if not u.startswith(("file:", "data:", "about:", "blob:", "chrome"))]


# ----------------------------------------------------------------------------------------------
# tests


def test_cer_html_renders_without_errors_and_loads_nothing_from_outside(browser: Browser, published) -> None:
    page = browser.open((published["hostile"] / "cer.html").as_uri())
    assert page.console_errors() == []
    assert _external(page.requests()) == []
    assert page.failed_loads() == []
    headings = page.evaluate("Array.from(document.querySelectorAll('h1, h2')).map(h => h.textContent.trim())")
    for expected in ("Annex 1. Executed notebooks", "Annex 2. Provenance of tables and figures", "Contents"):
        assert expected in headings, headings
    assert page.evaluate("document.querySelectorAll('section.cer-notebook').length") == 5
    assert page.evaluate("!!document.querySelector('#report details.cer-code:not([open])')"), "report code is folded"
    assert page.evaluate("document.querySelector('.cer-synthetic-banner').offsetHeight") > 0
    images = page.evaluate("Array.from(document.images).filter(i => i.getAttribute('src')).map(i => [i.complete, i.naturalWidth])")
    assert images and all(done and width > 0 for done, width in images), images
    shot = _shot(page, published, "cer-html-top")
    assert _ink(shot) > 0.01


def test_hostile_narrative_is_visible_text_and_did_not_run(browser: Browser, published) -> None:
    page = browser.open((published["hostile"] / "cer.html").as_uri())
    title = page.evaluate("document.title")
    assert title.startswith("Clinical Evaluation Report") and "PWNED" not in title
    assert page.evaluate("typeof window.__cer_pwned") == "undefined"
    assert page.evaluate("document.querySelectorAll('script, iframe, object, embed').length") == 0
    # the payload is on the page as text a reader can see
    visible = page.evaluate("document.body.innerText")
    assert "<script>window.__cer_pwned = 1; document.title = 'PWNED';</script>" in visible
    where = page.evaluate("""(() => {
        const walker = document.createTreeWalker(document.querySelector('#report'), NodeFilter.SHOW_TEXT);
        while (walker.nextNode()) {
            if (walker.currentNode.textContent.includes('<script>window.__cer_pwned')) {
                const box = walker.currentNode.parentElement.getBoundingClientRect();
                return [box.width, box.height];
            }
        }
        return null; })()""")
    assert where and where[0] > 0 and where[1] > 0
    # scroll to it and take a picture of it
    page.evaluate("""(() => { const w = document.createTreeWalker(document.querySelector('#report'), NodeFilter.SHOW_TEXT);
        while (w.nextNode()) { if (w.currentNode.textContent.includes('<script>window.__cer_pwned')) {
            w.currentNode.parentElement.scrollIntoView(); return true; } } return false; })()""")
    time.sleep(0.2)
    assert _ink(_shot(page, published, "cer-html-hostile")) > 0.01
    assert page.evaluate("typeof window.__cer_pwned") == "undefined"


def test_book_index_renders_without_errors(browser: Browser, published) -> None:
    page = browser.open(published["index"].as_uri())
    assert page.console_errors() == []
    assert _external(page.requests()) == []
    assert page.failed_loads() == []
    h1 = page.evaluate("Array.from(document.querySelectorAll('main h1, article h1')).map(h => h.textContent.trim())")
    assert any(h.startswith("Clinical Evaluation Reports") for h in h1), h1
    codes = page.evaluate("Array.from(document.querySelectorAll('table.cer-index tbody tr td:first-child')).map(td => td.innerText.trim())")
    assert codes == ["HWC", "LZG"]
    shot = _shot(page, published, "book-index")
    assert _ink(shot) > 0.01


def test_book_pages_with_hostile_text_do_not_run_it(browser: Browser, published) -> None:
    run_dir = published["index"].parent / "runs" / "HWC" / published["hostile"].name
    for name in ("05_report.html", "04_narrate.html", "index.html", "cer.html"):
        page = browser.open((run_dir / name).as_uri())
        assert page.evaluate("typeof window.__cer_pwned") == "undefined", name
        assert "PWNED" not in page.evaluate("document.title"), name
        assert page.console_errors() == [], (name, page.console_errors())
        assert _external(page.requests()) == [], name
        if name == "05_report.html":
            assert "<script>window.__cer_pwned = 1" in page.evaluate("document.body.innerText")
            _shot(page, published, "book-05-report")
