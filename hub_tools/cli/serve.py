"""`hubtool serve-model`: an OpenAI-compatible API over a transformers model (the CPU stand-in for vllm serve)."""
from __future__ import annotations

import click

from hub_tools.cli.options import endpoint_option, hub_target_if_needed
from hub_tools.localhub import server as hubserver


@click.command("serve-model", epilog="""\b
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
@endpoint_option
def serve_model(model: str, adapter: str | None, revision: str | None, adapter_revision: str | None, host: str,
                port: int, name: str | None, allow_remote: bool, endpoint: str | None) -> None:
    """Serve a model (and adapter) with an OpenAI-compatible API (/v1/completions, /v1/chat/completions,
    streaming): the CPU stand-in for `vllm serve`."""
    if not allow_remote and not hubserver.is_loopback_host(host):
        raise click.UsageError(f"--host {host} is not a loopback address; pass --allow-remote to override")
    from hub_tools.serving.openai_server import serve

    hub_target_if_needed(endpoint, model, adapter)  # a repo id is read from the Hub of the one rule

    serve(model, adapter, revision, adapter_revision, name=name, host=host, port=port)
