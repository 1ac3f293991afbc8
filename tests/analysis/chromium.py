"""A headless Chromium driven over the Chrome DevTools Protocol (its websocket, through websocket-client): load a
page, evaluate JavaScript in it, take a full-page screenshot. Enough to check a page as a browser renders it."""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    """``$CHROMIUM`` or the first Chromium on PATH (Debian's package installs /usr/bin/chromium)."""
    found = os.environ.get("CHROMIUM") or next((p for p in map(shutil.which, NAMES) if p), None)
    return found if found and os.access(found, os.X_OK) else None


def _wait(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise TimeoutError(f"Chromium: no {what} after {timeout:.0f} s")


class Chromium:
    """One headless Chromium with one page; ``with Chromium(path) as browser: browser.load(url)``."""

    def __init__(self, executable: str, width: int = 1280, height: int = 900):
        import websocket

        self.profile = tempfile.mkdtemp(prefix="vlpet-chromium-")
        self.process = subprocess.Popen(
            [executable, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
             "--remote-debugging-port=0", f"--user-data-dir={self.profile}", f"--window-size={width},{height}",
             "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.socket = None
        try:
            port_file = os.path.join(self.profile, "DevToolsActivePort")
            _wait(lambda: os.path.exists(port_file) and open(port_file).read().count("\n") >= 1, 30,
                  "DevTools port")
            port = open(port_file).read().split()[0]
            targets = _wait(lambda: [t for t in self._targets(port) if t.get("type") == "page"], 15, "page target")
            self.socket = websocket.create_connection(targets[0]["webSocketDebuggerUrl"], timeout=30,
                                                      suppress_origin=True)
        except BaseException:
            self.close()
            raise
        self.ids = itertools.count(1)
        self.events: list[dict] = []
        self.size = (width, height)
        self.call("Page.enable")
        self.call("Runtime.enable")
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1,
                  mobile=False)

    @staticmethod
    def _targets(port: str) -> list[dict]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as response:
                return json.load(response)
        except OSError:
            return []

    def call(self, method: str, **params) -> dict:
        """Send one command and return its result (events that arrive meanwhile are kept for :meth:`wait_for`)."""
        ident = next(self.ids)
        self.socket.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, event: str, timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for index, message in enumerate(self.events):
                if message.get("method") == event:
                    return self.events.pop(index)
            self.socket.settimeout(max(deadline - time.monotonic(), 0.01))
            self.events.append(json.loads(self.socket.recv()))
        raise TimeoutError(f"Chromium: no {event} after {timeout:.0f} s")

    def load(self, url: str, timeout: float = 30) -> None:
        self.events.clear()
        self.call("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired", timeout)

    def evaluate(self, expression: str):
        """The value of a JavaScript expression in the page (JSON-serialisable values come back as Python)."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:80]}…: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def poll(self, expression: str, timeout: float = 15):
        return _wait(lambda: self.evaluate(expression), timeout, f"true value of {expression[:60]}")

    def screenshot(self, path: str) -> str:
        """The whole page (not only the viewport) as a PNG at ``path``."""
        height = self.evaluate("document.documentElement.scrollHeight")
        data = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                         clip={"x": 0, "y": 0, "width": self.size[0], "height": height, "scale": 1})["data"]
        with open(path, "wb") as handle:
            handle.write(base64.b64decode(data))
        return path

    def close(self) -> None:
        try:
            if self.socket is not None:
                self.socket.close()
        finally:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
            shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> "Chromium":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
