"""Check the built documentation site in a real browser (`make docs-check`).

1. Serves the site (``target/site`` by default) on 127.0.0.1 on a free port.
2. Crawls it over HTTP from the home page: every internal link and resource (``a href``,
   ``link href``, ``script src``, ``img src``) of every page reached must answer 200, and a
   link's ``#fragment`` must name an ``id`` on its target page.
3. Opens the home page and the configuration pages in headless Chromium, driven through the
   DevTools protocol over ``--remote-debugging-pipe`` (fd 3 carries commands to the browser,
   fd 4 its answers, each a JSON message ending in a NUL byte): no dependency beyond the
   standard library and the Debian package ``chromium``. Every console error, uncaught
   exception or failed load is a failure; each page is saved as a PNG screenshot, and the
   links the browser itself resolved on it are checked as in step 2.

Exits 1 listing every problem, 0 when there is none.

    python docs/_tools/browser_check.py target/site --out target/docs-screenshots
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import functools
import html.parser
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

PAGES = {"home": "", "configuration": "configuration/", "settings-reference": "settings-reference/"}
PAGE_TIMEOUT = 60.0
SETTLE = 1.5  # seconds after the load event to let the page's scripts run and complain


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def serve(site: Path) -> tuple[ThreadingHTTPServer, str]:
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name in ("id", "name") if tag == "a" else ("id",):
            if values.get(name):
                self.ids.add(str(values[name]))
        attribute = {"a": "href", "link": "href", "script": "src", "img": "src"}.get(tag)
        if attribute and values.get(attribute):
            self.links.append(str(values[attribute]))


def _fetch(url: str) -> tuple[int, bytes, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read(), response.headers.get_content_type()
    except urllib.error.HTTPError as error:
        return error.code, b"", ""


def crawl(base: str) -> tuple[list[str], int]:
    """Every internal link reachable from the home page: (problems, pages crawled)."""
    problems: list[str] = []
    pages: dict[str, set[str]] = {}  # page URL (no fragment) -> its ids
    status: dict[str, int] = {}
    wanted: list[tuple[str, str]] = []  # (link with fragment, page it is on)
    todo = [base]
    while todo:
        url = todo.pop()
        if url in status:
            continue
        code, body, kind = _fetch(url)
        status[url] = code
        if code != 200 or kind != "text/html":
            continue
        parser = _Links()
        parser.feed(body.decode("utf-8", "replace"))
        pages[url] = parser.ids
        for link in parser.links:
            target = urllib.parse.urljoin(url, link)
            if not target.startswith(base):
                continue  # external: not checked (no network here)
            wanted.append((target, url))
            bare = urllib.parse.urldefrag(target).url
            if bare not in status:
                todo.append(bare)
    for target, source in wanted:
        bare, fragment = urllib.parse.urldefrag(target)
        if status.get(bare) != 200:
            problems.append(f"broken link on {source}: {target} ({status.get(bare)})")
        elif fragment and bare in pages:
            fragment = urllib.parse.unquote(fragment)
            if fragment not in pages[bare]:
                problems.append(f"broken anchor on {source}: {target} (no id {fragment!r})")
    return problems, len(pages)


class Browser:
    """Headless Chromium over the DevTools pipe (fd 3: commands in, fd 4: messages out)."""

    def __init__(self, executable: str, profile: str) -> None:
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        high_r = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 10)
        high_w = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD, 10)

        def child_fds() -> None:  # runs in the child: the pipe ends become fds 3 and 4
            os.dup2(high_r, 3)
            os.dup2(high_w, 4)

        self.process = subprocess.Popen(
            [
                executable,
                "--headless=new",
                "--remote-debugging-pipe",
                "--no-sandbox",  # root, in a container: Chromium's sandbox cannot start
                "--disable-gpu",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--hide-scrollbars",
                "--window-size=1280,900",
                f"--user-data-dir={profile}",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=child_fds,
            close_fds=False,
        )
        for fd in (to_browser_r, from_browser_w, high_r, high_w):
            os.close(fd)
        self._next_id = 0
        self._replies: dict[int, dict[str, Any]] = {}
        self._events: queue.Queue[dict[str, Any]] = queue.Queue()
        self._cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        buffer = b""
        while chunk := os.read(self._from_browser, 65536):
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            for raw in messages:
                message = json.loads(raw)
                if "id" in message:
                    with self._cond:
                        self._replies[message["id"]] = message
                        self._cond.notify_all()
                else:
                    self._events.put(message)
        with self._cond:
            self._replies[-1] = {"error": {"message": "the browser closed its pipe"}}
            self._cond.notify_all()

    def send(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        ident = self._next_id
        message: dict[str, Any] = {"id": ident, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + PAGE_TIMEOUT
        with self._cond:
            while ident not in self._replies and -1 not in self._replies:
                if not self._cond.wait(timeout=deadline - time.monotonic()):
                    raise TimeoutError(f"no answer to {method} in {PAGE_TIMEOUT:g} s")
            reply = self._replies.pop(ident, None) or self._replies[-1]
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error'].get('message')}")
        return dict(reply.get("result", {}))

    def events(self, until: float) -> list[dict[str, Any]]:
        """Every event that arrives before the monotonic time ``until``."""
        found = []
        while (left := until - time.monotonic()) > 0:
            try:
                found.append(self._events.get(timeout=left))
            except queue.Empty:
                break
        return found

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, TimeoutError, OSError):
            self.send("Browser.close")
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._to_browser)


def _problem(event: dict[str, Any]) -> str | None:
    method, params = event.get("method"), event.get("params", {})
    if method == "Runtime.exceptionThrown":
        details = params.get("exceptionDetails", {})
        text = details.get("exception", {}).get("description") or details.get("text")
        return f"uncaught exception: {text}"
    if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
        args = [a.get("value", a.get("description", "")) for a in params.get("args", [])]
        return f"console.{params['type']}: {' '.join(map(str, args))}"
    if method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
        entry = params["entry"]
        return f"{entry.get('source')} error: {entry.get('text')} {entry.get('url', '')}".strip()
    if method == "Network.loadingFailed" and not params.get("canceled"):
        return f"failed to load a resource: {params.get('errorText')}"
    return None


def check_in_browser(executable: str, base: str, out: Path) -> list[str]:
    problems: list[str] = []
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ferrolog-docs-chromium-") as profile:
        browser = Browser(executable, profile)
        try:
            for name, path in PAGES.items():
                url = base + path
                target = browser.send("Target.createTarget", url="about:blank")["targetId"]
                session = browser.send("Target.attachToTarget", targetId=target, flatten=True)[
                    "sessionId"
                ]
                for domain in ("Runtime", "Log", "Page", "Network"):
                    browser.send(f"{domain}.enable", session)
                browser.send("Page.navigate", session, url=url)
                deadline = time.monotonic() + PAGE_TIMEOUT
                loaded = False
                seen: list[dict[str, Any]] = []
                while not loaded and time.monotonic() < deadline:
                    for event in browser.events(min(deadline, time.monotonic() + 0.5)):
                        if event.get("sessionId") != session:
                            continue
                        seen.append(event)
                        loaded = loaded or event.get("method") == "Page.loadEventFired"
                if not loaded:
                    problems.append(f"{url}: the page did not finish loading")
                seen += [
                    e
                    for e in browser.events(time.monotonic() + SETTLE)
                    if e.get("sessionId") == session
                ]
                problems += [f"{url}: {p}" for e in seen if (p := _problem(e))]
                shot = browser.send("Page.captureScreenshot", session, format="png")
                (out / f"{name}.png").write_bytes(base64.b64decode(shot["data"]))
                links = browser.send(
                    "Runtime.evaluate",
                    session,
                    expression="Array.from(document.querySelectorAll('a[href]'), a => a.href)",
                    returnByValue=True,
                )["result"]["value"]
                for link in links:
                    bare = urllib.parse.urldefrag(link).url
                    if bare.startswith(base) and _fetch(bare)[0] != 200:
                        problems.append(f"{url}: broken link {link}")
                print(f"docs-check: {url}: {len(links)} links, screenshot {out / (name + '.png')}")
                browser.send("Target.closeTarget", targetId=target)
        finally:
            browser.close()
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("site", type=Path, nargs="?", default=Path("target/site"))
    parser.add_argument("--out", type=Path, default=Path("target/docs-screenshots"))
    parser.add_argument("--browser", default=shutil.which("chromium") or "chromium")
    args = parser.parse_args()
    if not (args.site / "index.html").is_file():
        print(f"docs-check: no site at {args.site}: run `make docs` first")
        return 1
    server, base = serve(args.site)
    try:
        problems, crawled = crawl(base)
        print(f"docs-check: crawled {crawled} pages of {base}, {len(problems)} broken links")
        problems += check_in_browser(args.browser, base, args.out)
    finally:
        server.shutdown()
    for problem in problems:
        print(f"docs-check: {problem}")
    print(f"docs-check: {'FAILED' if problems else 'ok'}: {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
