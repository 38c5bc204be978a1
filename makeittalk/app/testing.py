"""Helpers to drive the app the way a user does: a real server process and headless Chromium.

Used by the browser tests (tests/test_app_browser.py) and the click-to-video benchmark
(benchmarks/bench_app.py). Chromium is the system's (Debian's /usr/bin/chromium), never a
browser that Playwright downloads, started with the flags that keep it off the network.

The server runs in a subprocess with a Python audit hook that writes every outgoing
connection or host-name lookup to a non-local address into a log file, so a test can check
that the app itself contacted nothing but this computer.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

CHROMIUM = os.environ.get("MAKEITTALK_CHROMIUM", "/usr/bin/chromium")
# Without the background-networking flags Chromium calls Google hosts (updates, variations,
# safe browsing) on its own; QUIC and the GPU are off for headless CI machines.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOCAL_HOSTS = frozenset({"127.0.0.1", "::1", "localhost", "::ffff:127.0.0.1", "0.0.0.0", ""})

# The server process: log non-local connects and lookups, then run `makeittalk app ARGS`.
_SERVER_CODE = r"""
import os, sys
_log = os.environ["MAKEITTALK_NET_LOG"]
_local = {"127.0.0.1", "::1", "localhost", "::ffff:127.0.0.1", "0.0.0.0", ""}
def _hook(event, args):
    if event == "socket.connect":
        address = args[1]
        if isinstance(address, tuple) and str(address[0]) not in _local:
            with open(_log, "a") as f:
                f.write(f"connect {address!r}\n")
    elif event == "socket.getaddrinfo":
        host = args[0]
        if isinstance(host, bytes):
            host = host.decode(errors="replace")
        if host is not None and str(host) not in _local:
            with open(_log, "a") as f:
                f.write(f"getaddrinfo {host!r}\n")
sys.addaudithook(_hook)
from makeittalk.app import main
sys.exit(main(sys.argv[1:]))
"""


def chromium_available() -> bool:
    return Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def is_local_url(url: str) -> bool:
    """True for URLs that stay on this computer (127.0.0.1 / localhost, blob:, data:, about:)."""
    if url.startswith(("blob:", "data:", "about:")):
        return True
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return parts.scheme in ("http", "https", "ws", "wss") and (parts.hostname or "") in LOCAL_HOSTS


@dataclass
class AppServer:
    """A running `makeittalk app` subprocess."""

    process: subprocess.Popen
    url: str
    port: int
    work_dir: Path
    puppets_dir: Path
    log_path: Path
    net_log: Path
    started_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def outside_connections(self) -> list[str]:
        try:
            return [line for line in self.net_log.read_text().splitlines() if line.strip()]
        except FileNotFoundError:
            return []

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextlib.contextmanager
def app_server(
    *,
    home: str | os.PathLike,
    args: list[str] = (),
    root: str | os.PathLike | None = None,
    timeout: float = 120.0,
    env: dict[str, str] | None = None,
) -> Iterator[AppServer]:
    """Start `makeittalk app` on a free 127.0.0.1 port with MAKEITTALK_HOME=`home`; stop it after."""
    root = Path(root) if root is not None else Path(tempfile.mkdtemp(prefix="makeittalk-app-test-"))
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    work_dir = root / "work"
    puppets_dir = root / "puppets"
    log_path = root / "server.log"
    net_log = root / "outside_connections.log"
    net_log.write_text("")
    environment = dict(os.environ if env is None else env)
    environment.update(MAKEITTALK_HOME=str(home), MAKEITTALK_NET_LOG=str(net_log), PYTHONUNBUFFERED="1")
    environment.pop("GRADIO_TEMP_DIR", None)
    command = [sys.executable, "-c", _SERVER_CODE, "--port", str(port), "--work-dir", str(work_dir),
               "--puppets-dir", str(puppets_dir), *args]
    started = time.perf_counter()
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=environment,
                                   cwd=str(root))
    server = AppServer(process, f"http://127.0.0.1:{port}/", port, work_dir, puppets_dir, log_path, net_log)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the app exited with code {process.returncode}:\n{server.log()[-4000:]}")
            try:
                with urllib.request.urlopen(server.url + "config", timeout=5) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the app did not answer within {timeout:g} s:\n{server.log()[-4000:]}")
            time.sleep(0.25)
        server.started_s = time.perf_counter() - started
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def chromium(playwright: Any, *, viewport: tuple[int, int] = (1400, 1000), extra_args: list[str] = (),
             permissions: list[str] | None = None) -> Iterator[Any]:
    """A headless Chromium context (system binary, fresh profile) that records every request.

    The context's `requests` attribute lists the URLs the pages asked for. `extra_args` adds
    Chromium flags (e.g. a fake microphone), `permissions` grants e.g. ["microphone"].
    """
    profile = Path(tempfile.mkdtemp(prefix="makeittalk-chromium-"))
    try:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            args=[*CHROMIUM_ARGS, *extra_args],
            headless=True,
            permissions=permissions,
            viewport={"width": viewport[0], "height": viewport[1]},
            accept_downloads=True,
        )
        requests: list[str] = []
        context.on("request", lambda request: requests.append(request.url))
        context.requests = requests  # type: ignore[attr-defined]
        try:
            yield context
        finally:
            context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def install_rule_filled_weights(home: str | os.PathLike, reference_dir: str | os.PathLike, name: str = "original",
                                *, checkpoints: str | os.PathLike | None = None) -> str:
    """Import rule-filled ORIGINAL-layout checkpoints of the landmark networks as weight set `name`.

    The values follow the reference README's fill rule (tests/original_checkpoints.py), so the
    motion is meaningless, but every network runs at its real size. Needs tests/ on sys.path.
    """
    from original_checkpoints import write_original_checkpoint  # tests/original_checkpoints.py

    ckpts = Path(checkpoints) if checkpoints is not None else Path(home) / "original-checkpoints"
    for stem in ("ckpt_autovc", "ckpt_content_branch", "ckpt_speaker_branch"):
        target = ckpts / f"{stem}.pth"
        if not target.is_file():
            write_original_checkpoint(Path(reference_dir) / f"{stem}.manifest.json", target)
    previous = os.environ.get("MAKEITTALK_HOME")
    os.environ["MAKEITTALK_HOME"] = str(home)
    try:
        from makeittalk.cli.main import main as cli_main

        code = cli_main(["weights", "import-original", str(ckpts), "--name", name, "--overwrite"])
        if code != 0:
            raise RuntimeError(f"'makeittalk weights import-original' failed with code {code}")
    finally:
        if previous is None:
            os.environ.pop("MAKEITTALK_HOME", None)
        else:
            os.environ["MAKEITTALK_HOME"] = previous
    return name
