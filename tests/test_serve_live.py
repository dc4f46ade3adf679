"""A real uvicorn server on 127.0.0.1 (random free port), hit by a second process (the
load test) and by headless Chromium driving the `/` page over the DevTools protocol."""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

pytestmark = pytest.mark.integration  # starts a real server (and a browser)

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "live-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer within {seconds} s")


@pytest.fixture(scope="module")
def server(tiny_bert_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    import torch

    from transferkit.models.classifier import Classifier
    from transferkit.models.factory import load_backbone
    from transferkit.models.saving import save_classifier

    torch.manual_seed(0)
    folder = save_classifier(
        Classifier(load_backbone(tiny_bert_dir), ["NEGATIVE", "POSITIVE"]),
        tmp_path_factory.mktemp("live") / "clf",
        body="full",
    )
    port = free_port()
    code = (
        f"from transferkit.serve import serve; serve({str(folder)!r}, host='127.0.0.1', port={port}, "
        f"token={TOKEN!r})"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    log = folder.parent / "server.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-c", code], env=env, stdout=sink, stderr=subprocess.STDOUT
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_for(f"{url}/health", 90)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
    assert "Traceback" not in log.read_text(errors="replace"), log.read_text(errors="replace")[
        -3000:
    ]


def test_load_test_from_a_second_process_has_no_errors(server: str) -> None:
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "load_test.py"),
            "--url",
            server,
            "--concurrency",
            "8",
            "--requests",
            "120",
            "--duration",
            "60",
            "--token",
            TOKEN,
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert out.returncode == 0, report
    assert report["errors"] == 0 and report["requests"] == 120
    assert report["latency_ms"]["p50"] <= report["latency_ms"]["p99"]
    assert report["server_mean_batch_items"] > 1  # concurrent requests were batched together


def test_load_test_refuses_other_hosts() -> None:
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "load_test.py"),
            "--url",
            "http://192.0.2.1:8000",
            "--requests",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode != 0 and "loopback" in out.stderr


# ---------------------------------------------------------------- a tiny CDP client
class DevTools:
    """Just enough of the Chrome DevTools protocol over a stdlib WebSocket (RFC 6455)."""

    def __init__(self, ws_url: str) -> None:
        rest = ws_url.removeprefix("ws://")
        hostport, path = rest.split("/", 1)
        host, port = hostport.split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=30)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET /{path} HTTP/1.1\r\nHost: {hostport}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            head += self.sock.recv(1)
        assert b" 101 " in head.split(b"\r\n")[0], head
        self.next_id = 0

    def _send(self, text: str) -> None:
        data, mask = text.encode(), os.urandom(4)
        n = len(data)
        header = bytes([0x81]) + (
            bytes([0x80 | n])
            if n < 126
            else bytes([0x80 | 126]) + struct.pack(">H", n)
            if n < 65536
            else bytes([0x80 | 127]) + struct.pack(">Q", n)
        )
        self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def _read(self, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("DevTools closed the connection")
            buf += chunk
        return buf

    def _recv(self) -> str:
        parts = []
        while True:
            b0, b1 = self._read(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._read(8))[0]
            parts.append(self._read(n))
            if b0 & 0x80:
                return b"".join(parts).decode()

    def call(self, method: str, **params: object) -> dict:
        self.next_id += 1
        self._send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        for _ in range(10_000):  # skip events until our answer
            msg = json.loads(self._recv())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(msg["error"])
                return msg["result"]
        raise TimeoutError(method)

    def close(self) -> None:
        self.sock.close()

    def eval(self, expression: str) -> object:
        res = self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        return res["result"].get("value")


@pytest.fixture()
def browser(chromium: Path) -> Iterator[str]:
    profile = tempfile.mkdtemp(prefix="tk-chromium-")
    proc = subprocess.Popen(
        [
            str(chromium),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            f"--user-data-dir={profile}",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port_file = Path(profile) / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not port_file.exists() or not port_file.read_text().strip():
            if time.monotonic() > deadline or proc.poll() is not None:
                raise TimeoutError("chromium did not start its DevTools endpoint")
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port_file.read_text().split()[0]}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(profile, ignore_errors=True)


def test_the_page_works_in_headless_chromium(server: str, browser: str) -> None:
    with urllib.request.urlopen(f"{browser}/json/list", timeout=10) as r:
        page = next(t for t in json.load(r) if t["type"] == "page")
    dt = DevTools(page["webSocketDebuggerUrl"])
    try:
        drive_page(dt, server)
    finally:
        dt.close()


def drive_page(dt: DevTools, server: str) -> None:
    # With a token the page is guarded too: a browser opens it with the token (here as a
    # bearer header; people type it as the password of the Basic prompt), then the form
    # sends whatever token is typed into it.
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{server}/", timeout=10)
    refused.value.close()  # the error holds the response's socket
    assert refused.value.code == 401 and "Basic" in refused.value.headers["WWW-Authenticate"]
    dt.call("Page.enable")
    dt.call("Network.enable")
    dt.call("Network.setExtraHTTPHeaders", headers={"Authorization": f"Bearer {TOKEN}"})
    dt.call("Page.navigate", url=f"{server}/")
    for _ in range(100):
        if dt.eval("document.readyState") == "complete" and dt.eval(
            "!!document.getElementById('go')"
        ):
            break
        time.sleep(0.1)
    assert dt.eval("document.getElementById('task').textContent") == "text-classification"
    dt.call("Network.setExtraHTTPHeaders", headers={})  # from here on, only the form's token

    def submit(text: str, token: str) -> tuple[str, str]:
        dt.eval("document.getElementById('result').removeAttribute('data-status')")
        dt.eval(
            f"document.getElementById('text').value = {json.dumps(text)};"
            f"document.getElementById('token').value = {json.dumps(token)};"
            "document.getElementById('go').click()"
        )
        for _ in range(200):
            status = dt.eval("document.getElementById('result').dataset.status || ''")
            if status:
                return str(status), str(dt.eval("document.getElementById('result').textContent"))
            time.sleep(0.1)
        raise TimeoutError("the page showed no result")

    status, text = submit("a good film\na bad film", TOKEN)
    assert status == "200"
    shown = json.loads(text)
    assert len(shown) == 2 and {d["label"] for d in shown} <= {"NEGATIVE", "POSITIVE"}
    status, text = submit("a good film", "wrong")
    assert status == "401" and "Bearer" in text
