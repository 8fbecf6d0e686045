"""`hubtool hub serve|start|status|stop`: run the local staging hub."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from hub_tools.cli.options import json_option
from hub_tools.localhub import server as hubserver

EPILOG_HUB = """\b
Examples:
  hubtool hub serve --port 8760                  # foreground, data in ~/.cache/hubtool/localhub
  hubtool hub serve --data-dir /tmp/hub --port 0  # a free port, written to /tmp/hub/server.json
  hubtool hub start && hubtool hub status --json  # background
  hubtool hub stop                               # stop the background hub
  HUBTOOL_HUB_TOKEN=$(cat ~/.hub-token) hubtool hub serve   # admin token from the environment
  hubtool hub serve --token-file ~/.hub-token     # ... or from a file (mode 0600); never --token
"""



@click.group(epilog=EPILOG_HUB)
def hub() -> None:
    """Run the local staging hub: a loopback Hub-compatible server storing repos on disk."""


@hub.command("serve", epilog=EPILOG_HUB)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (loopback only).")
@click.option("--port", default=8760, show_default=True, type=click.IntRange(0, 65535), help="0 picks a free port.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where repos are stored. [default: $HUBTOOL_HOME/localhub or ~/.cache/hubtool/localhub]")
@click.option("--token-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="File holding the admin token (mode 0600). Or set HUBTOOL_HUB_TOKEN. Default: created in "
                   "DATA_DIR/admin-token (mode 0600).")
@click.option("--token", "token_on_argv", default=None, hidden=True, expose_value=True,
              help="Refused: a token on the command line is visible to every local user.")
@click.option("--users-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="YAML file of users, tokens (or their sha256) and orgs. See docs/local-hub.md.")
@click.option("--allow-remote", is_flag=True, help="Allow a non-loopback --host. Off by default for a reason.")
@click.option("--access-log", is_flag=True, help="Log every request (URLs only, never tokens).")
@click.option("--header-timeout", type=click.FloatRange(0.1, 3600), default=hubserver.HEADER_TIMEOUT_S,
              show_default=True, hidden=True, help="Seconds a connection gets to send a request head.")
@click.option("--enable-fault-injection", is_flag=True, hidden=True, help="Tests only: accept fault rules.")
def hub_serve(host: str, port: int, data_dir: Path | None, token_file: Path | None, token_on_argv: str | None,
              users_file: Path | None, allow_remote: bool, access_log: bool, header_timeout: float,
              enable_fault_injection: bool) -> None:
    """Serve the local hub in the foreground until Ctrl-C."""
    if token_on_argv is not None:
        raise click.UsageError("--token puts the token in the process list, readable by every local user: "
                               f"write it to a file (mode 0600) and pass --token-file, or set {hubserver.TOKEN_ENV}.")
    if not allow_remote and not hubserver.is_loopback_host(host):
        raise click.UsageError(f"--host {host} is not a loopback address; the local hub serves 127.0.0.1, ::1 "
                               "or localhost. Pass --allow-remote to override (then protect it yourself).")
    token = None
    if token_file is not None:
        try:
            token = hubserver.read_token_file(token_file)
        except ValueError as err:
            raise click.UsageError(str(err))
    elif os.environ.get(hubserver.TOKEN_ENV):
        token = os.environ[hubserver.TOKEN_ENV].strip()
    data_dir = data_dir or hubserver.default_data_dir()
    click.echo(f"local hub: data in {data_dir}; admin token in "
               f"{data_dir / hubserver.TOKEN_FILE if not (token or users_file) else '(given)'}", err=True)
    try:
        hubserver.serve(data_dir, host, port, token, users_file, allow_remote, enable_fault_injection, access_log,
                        header_timeout)
    except OSError as err:
        raise click.ClickException(f"cannot listen on {host}:{port}: {err.strerror}. Try another --port.")


@hub.command("start", epilog=EPILOG_HUB)
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.option("--port", default=0, show_default=True, type=click.IntRange(0, 65535))
@json_option
def hub_start(data_dir: Path | None, port: int, as_json: bool) -> None:
    """Start the local hub in the background (no-op if it already runs)."""
    hub_proc = hubserver.running_hub(data_dir)
    started = hub_proc is None
    if hub_proc is None:
        hub_proc = hubserver.start_background(data_dir, port=port)
    _print_hub(hub_proc, as_json, "started" if started else "already running")


@hub.command("status", epilog=EPILOG_HUB)
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None)
@json_option
def hub_status(data_dir: Path | None, as_json: bool) -> None:
    """Say whether the local hub runs, where, and how to point clients at it. Exit 1 if it is down."""
    hub_proc = hubserver.running_hub(data_dir)
    if hub_proc is None:
        if as_json:
            click.echo(json.dumps({"running": False}))
        else:
            click.echo("local hub: not running (start it with `hubtool hub start`)")
        sys.exit(1)
    _print_hub(hub_proc, as_json, "running")


@hub.command("stop", epilog=EPILOG_HUB)
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None)
def hub_stop(data_dir: Path | None) -> None:
    """Stop the background local hub."""
    click.echo("local hub: stopped" if hubserver.stop_hub(data_dir) else "local hub: was not running")


def _print_hub(hub_proc: hubserver.HubProcess, as_json: bool, state: str) -> None:
    if as_json:
        click.echo(json.dumps({"running": True, "state": state, "url": hub_proc.url, "pid": hub_proc.pid,
                               "data_dir": str(hub_proc.data_dir), "token_file": str(hub_proc.token_file)}))
        return
    click.echo(f"local hub {state} at {hub_proc.url} (pid {hub_proc.pid}, data in {hub_proc.data_dir})\n"
               f"Point Hugging Face clients at it:\n"
               f"  export HF_ENDPOINT={hub_proc.url} HF_HUB_DISABLE_XET=1\n"
               f"  export HF_TOKEN=$(cat {hub_proc.token_file})")
