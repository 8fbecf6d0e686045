"""Running the local hub: in the foreground (``hubtool hub serve``) or as the embedded default that
hubtool starts in the background when no endpoint is configured.

A running hub writes ``server.json`` (url, pid) into its data dir; that is how other hubtool
processes find it. The admin token lives in ``admin-token`` (mode 0600) beside it and is never printed.
Tokens reach the server from a file or the environment (``HUBTOOL_HUB_TOKEN``), never from its command
line, where any local user could read them in the process list. Everything the hub writes is 0600
in a 0700 data dir.
"""
from __future__ import annotations

import ipaddress
import json
import logging
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

STATE_FILE = "server.json"
TOKEN_FILE = "admin-token"
LOG_FILE = "server.log"
TOKEN_ENV = "HUBTOOL_HUB_TOKEN"
HEADER_TIMEOUT_S = 30.0  # a connection must send a complete request head within this (slow-loris guard)


def default_home() -> Path:
    """Where hubtool keeps its state: ``$HUBTOOL_HOME`` or ``~/.cache/hubtool``."""
    return Path(os.environ.get("HUBTOOL_HOME") or Path.home() / ".cache" / "hubtool").expanduser()


def default_data_dir() -> Path:
    return default_home() / "localhub"


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def admin_token(data_dir: Path, create: bool = True) -> str | None:
    """The hub's admin token, created on first use with mode 0600."""
    path = Path(data_dir) / TOKEN_FILE
    if path.exists():
        return path.read_text().strip()
    if not create:
        return None
    _private_dir(path.parent)
    token = "hf_local_" + secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token


@dataclass(frozen=True)
class HubProcess:
    url: str
    pid: int
    data_dir: Path

    @property
    def token_file(self) -> Path:
        return self.data_dir / TOKEN_FILE


def _private_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.chmod(path, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def read_token_file(path: str | Path) -> str:
    """The first line of a token file; refused if other users may read it."""
    path = Path(path)
    if path.stat().st_mode & 0o077:
        raise ValueError(f"{path} can be read by other users (mode {oct(path.stat().st_mode & 0o777)}): "
                         f"run `chmod 600 {path}`")
    lines = path.read_text().strip().splitlines()
    if not lines or not lines[0].strip():
        raise ValueError(f"{path} is empty: write the admin token on its first line")
    return lines[0].strip()


def serve(data_dir: str | Path, host: str = "127.0.0.1", port: int = 0, token: str | None = None,
          users_file: str | Path | None = None, allow_remote: bool = False, enable_faults: bool = False,
          access_log: bool = False, header_timeout: float = HEADER_TIMEOUT_S) -> None:
    """Serve the hub until interrupted. ``port=0`` picks a free port (written to server.json).

    ``token`` is the admin token (the CLI reads it from ``--token-file`` or ``HUBTOOL_HUB_TOKEN``)."""
    import uvicorn

    from hub_tools.localhub.app import build_app
    from hub_tools.localhub.auth import TokenRegistry
    from hub_tools.localhub.limits import header_timeout_protocol
    from hub_tools.localhub.storage import HubStore

    if not allow_remote and not is_loopback_host(host):
        raise ValueError(f"Refusing to listen on {host}: the local hub serves loopback addresses only "
                         "(127.0.0.1, ::1, localhost) unless --allow-remote is given")
    data_dir = Path(data_dir)
    os.umask(0o077)  # this process serves private repos: nothing it creates is for other users
    store = HubStore(data_dir)
    if token is None and users_file is None:
        token = admin_token(data_dir)
    tokens = TokenRegistry.load(admin_token=token, users_file=users_file)
    app = build_app(store, tokens, enable_faults=enable_faults)

    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host.strip("[]"), port))
    sock.listen(128)
    bound_port = sock.getsockname()[1]
    url = f"http://{'[' + host.strip('[]') + ']' if family == socket.AF_INET6 else host}:{bound_port}"
    state = data_dir / STATE_FILE
    _write_private(state, json.dumps({"url": url, "pid": os.getpid()}))
    log.info("local hub serving %s from %s", url, data_dir)
    config = uvicorn.Config(app, log_level="warning", access_log=access_log, timeout_keep_alive=30, lifespan="on",
                            http=header_timeout_protocol(header_timeout), h11_max_incomplete_event_size=64 * 1024)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        try:
            if json.loads(state.read_text()).get("pid") == os.getpid():
                state.unlink()
        except (OSError, ValueError):
            pass
        store.close()


def health(url: str, timeout: float = 2.0) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{url}/api/_localhub/health", timeout=timeout) as resp:
            return resp.status == 200 and json.loads(resp.read()).get("status") == "ok"
    except (OSError, ValueError):
        return False


def running_hub(data_dir: str | Path | None = None) -> HubProcess | None:
    """The hub serving ``data_dir`` if one is up and healthy."""
    data_dir = Path(data_dir or default_data_dir())
    try:
        state = json.loads((data_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not health(state.get("url", "")):
        return None
    return HubProcess(state["url"], int(state["pid"]), data_dir)


def start_background(data_dir: str | Path | None = None, host: str = "127.0.0.1", port: int = 0,
                     extra_args: list[str] | None = None, timeout: float = 60.0) -> HubProcess:
    """Start ``hubtool hub serve`` detached from this process and wait until it answers.

    No token ever goes on its command line: the admin token is in DATA_DIR/admin-token (or passed with
    ``--token-file`` in ``extra_args``), which the child reads itself."""
    data_dir = Path(data_dir or default_data_dir())
    _private_dir(data_dir)
    (data_dir / STATE_FILE).unlink(missing_ok=True)
    extra_args = list(extra_args or [])
    if "--token" in extra_args:
        raise ValueError("Pass the admin token with --token-file or HUBTOOL_HUB_TOKEN, never on a command line")
    if not ({"--token-file", "--users-file"} & set(extra_args)):
        admin_token(data_dir)
    cmd = [sys.executable, "-m", "hub_tools.cli", "hub", "serve", "--host", host, "--port", str(port),
           "--data-dir", str(data_dir), *extra_args]
    # The admin token of a background hub is the one in its admin-token file (what clients read), not one
    # that happens to be in this process's environment.
    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    log_fd = os.open(data_dir / LOG_FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.chmod(data_dir / LOG_FILE, 0o600)
    with os.fdopen(log_fd, "ab") as logf:
        proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, env=env)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"The local hub exited with code {proc.returncode}; see {data_dir / LOG_FILE}")
        hub = running_hub(data_dir)
        if hub is not None and hub.pid == proc.pid:
            return hub
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"The local hub did not answer within {timeout:.0f}s; see {data_dir / LOG_FILE}")


def ensure_hub(data_dir: str | Path | None = None) -> tuple[HubProcess, bool]:
    """The embedded hub for ``data_dir``, started if needed. Returns (hub, started_now)."""
    hub = running_hub(data_dir)
    if hub is not None:
        return hub, False
    return start_background(data_dir), True


def stop_hub(data_dir: str | Path | None = None, timeout: float = 15.0) -> bool:
    """Stop the hub serving ``data_dir``; False if none was running."""
    import signal

    hub = running_hub(data_dir)
    if hub is None:
        return False
    os.kill(hub.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:  # a hub this process started stays a zombie (kill(pid, 0) succeeds) until it is reaped here
            if os.waitpid(hub.pid, os.WNOHANG)[0]:
                return True
        except ChildProcessError:
            pass  # started by another process: watch it with kill(pid, 0)
        try:
            os.kill(hub.pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    os.kill(hub.pid, signal.SIGKILL)
    return True
