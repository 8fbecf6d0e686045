"""The ``hubtool`` command line. Each command group lives in its own module; this one wires them."""
from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import click

from hub_tools import __version__
from hub_tools.localhub import server as hubserver

EPILOG_HUB = """\b
Examples:
  hubtool hub serve --port 8760                  # foreground, data in ~/.cache/hubtool/localhub
  hubtool hub serve --data-dir /tmp/hub --port 0  # a free port, written to /tmp/hub/server.json
  hubtool hub start && hubtool hub status --json  # background
"""


def _setup_logging(verbose: bool) -> None:
    from rich.logging import RichHandler

    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(message)s",
                        handlers=[RichHandler(show_path=False, show_time=False, console=_stderr())], force=True)
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    if not verbose:  # hubtool shows its own progress; the libraries' per-file bars are noise here
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    for noisy in ("httpx", "httpcore", "httpx2", "httpcore2", "urllib3", "filelock", "huggingface_hub"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _stderr():
    from rich.console import Console

    return Console(stderr=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
             epilog="Run `hubtool COMMAND --help` for a command's options and examples.")
@click.version_option(__version__, prog_name="hubtool")
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def main(verbose: bool) -> None:
    """hubtool: validate, document, publish and verify the corpora, instruction sets, adapters,
    evaluation results and demos of a low-resource-language LLM project on the Hugging Face Hub.

    With no endpoint and no token configured, commands use the local staging hub
    (started in the background when needed)."""
    _setup_logging(verbose)


@main.group(epilog=EPILOG_HUB)
def hub() -> None:
    """Run the local staging hub: a loopback Hub-compatible server storing repos on disk."""


@hub.command("serve", epilog=EPILOG_HUB)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (loopback only).")
@click.option("--port", default=8760, show_default=True, type=click.IntRange(0, 65535), help="0 picks a free port.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where repos are stored. [default: $HUBTOOL_HOME/localhub or ~/.cache/hubtool/localhub]")
@click.option("--token", envvar="HUBTOOL_HUB_TOKEN", default=None,
              help="Admin token (env HUBTOOL_HUB_TOKEN). Default: created in DATA_DIR/admin-token (mode 0600).")
@click.option("--users-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="YAML file of users, tokens (or their sha256) and orgs. See docs/local-hub.md.")
@click.option("--allow-remote", is_flag=True, help="Allow a non-loopback --host. Off by default for a reason.")
@click.option("--access-log", is_flag=True, help="Log every request (URLs only, never tokens).")
@click.option("--enable-fault-injection", is_flag=True, hidden=True, help="Tests only: accept fault rules.")
def hub_serve(host: str, port: int, data_dir: Path | None, token: str | None, users_file: Path | None,
              allow_remote: bool, access_log: bool, enable_fault_injection: bool) -> None:
    """Serve the local hub in the foreground until Ctrl-C."""
    if not allow_remote and not hubserver.is_loopback_host(host):
        raise click.UsageError(f"--host {host} is not a loopback address; the local hub serves 127.0.0.1, ::1 "
                               "or localhost. Pass --allow-remote to override (then protect it yourself).")
    data_dir = data_dir or hubserver.default_data_dir()
    click.echo(f"local hub: data in {data_dir}; admin token in "
               f"{data_dir / hubserver.TOKEN_FILE if not (token or users_file) else '(given)'}", err=True)
    try:
        hubserver.serve(data_dir, host, port, token, users_file, allow_remote, enable_fault_injection, access_log)
    except OSError as err:
        raise click.ClickException(f"cannot listen on {host}:{port}: {err.strerror}. Try another --port.")


@hub.command("start", epilog=EPILOG_HUB)
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.option("--port", default=0, show_default=True, type=click.IntRange(0, 65535))
@click.option("--json", "as_json", is_flag=True, help="Print {url, pid, data_dir, token_file} as JSON.")
def hub_start(data_dir: Path | None, port: int, as_json: bool) -> None:
    """Start the local hub in the background (no-op if it already runs)."""
    hub_proc = hubserver.running_hub(data_dir)
    started = hub_proc is None
    if hub_proc is None:
        hub_proc = hubserver.start_background(data_dir, port=port)
    _print_hub(hub_proc, as_json, "started" if started else "already running")


@hub.command("status")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.option("--json", "as_json", is_flag=True)
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


@hub.command("stop")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None)
def hub_stop(data_dir: Path | None) -> None:
    """Stop the background local hub."""
    click.echo("local hub: stopped" if hubserver.stop_hub(data_dir) else "local hub: was not running")


@main.command("serve-model", epilog="""\b
Examples:
  hubtool serve-model --model out/train-tiny/tiny-base --port 8000
  hubtool serve-model --model hitz/base --adapter hitz/instruct --adapter-revision exp_2_111
Then: curl http://127.0.0.1:8000/v1/chat/completions -d '{"messages": [{"role": "user", "content": "Kaixo"}]}'""")
@click.option("--model", required=True, help="Model folder or Hub id.")
@click.option("--adapter", default=None, help="PEFT adapter folder or Hub id.")
@click.option("--revision", default=None)
@click.option("--adapter-revision", default=None)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--name", default=None, help="Model name the API reports and accepts (default: adapter or model).")
@click.option("--allow-remote", is_flag=True, help="Allow a non-loopback --host.")
def serve_model(model: str, adapter: str | None, revision: str | None, adapter_revision: str | None, host: str,
                port: int, name: str | None, allow_remote: bool) -> None:
    """Serve a model (and adapter) with an OpenAI-compatible API (/v1/completions, /v1/chat/completions,
    streaming): the CPU stand-in for `vllm serve`."""
    if not allow_remote and not hubserver.is_loopback_host(host):
        raise click.UsageError(f"--host {host} is not a loopback address; pass --allow-remote to override")
    import uvicorn

    from hub_tools.serving.openai_server import TransformersBackend, create_app

    backend = TransformersBackend(model, adapter, revision, adapter_revision, name=name)
    click.echo(f"serving {backend.name} on http://{host}:{port}/v1", err=True)
    uvicorn.run(create_app(backend), host=host, port=port, log_level="warning")


def _print_hub(hub_proc: hubserver.HubProcess, as_json: bool, state: str) -> None:
    if as_json:
        click.echo(json.dumps({"running": True, "state": state, "url": hub_proc.url, "pid": hub_proc.pid,
                               "data_dir": str(hub_proc.data_dir), "token_file": str(hub_proc.token_file)}))
        return
    click.echo(f"local hub {state} at {hub_proc.url} (pid {hub_proc.pid}, data in {hub_proc.data_dir})\n"
               f"Point Hugging Face clients at it:\n"
               f"  export HF_ENDPOINT={hub_proc.url} HF_HUB_DISABLE_XET=1\n"
               f"  export HF_TOKEN=$(cat {hub_proc.token_file})")


def _register_commands() -> None:
    from hub_tools.cli_card import card
    from hub_tools.cli_publish import push, release, verify
    from hub_tools.cli_recipe import recipe
    from hub_tools.cli_space import space
    from hub_tools.cli_validate import validate
    from hub_tools.quickstart import quickstart

    for command in (quickstart, validate, card, push, release, verify, recipe, space):
        main.add_command(command)


_register_commands()

if __name__ == "__main__":
    main()
