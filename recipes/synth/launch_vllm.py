"""datatrove's `custom` server script for `server.type: vllm`: replaces itself with `<vllm_command> serve ...`.

vLLM pins its own torch and transformers, so it runs from its own environment (a venv made with
recipes/synth/vllm-requirements.txt); hubtool only needs the command. datatrove starts this script per task as
`python launch_vllm.py --port N --command=... --model=... [...]`, waits for /v1/models, and stops it at the
end, exactly as it does for its built-in vLLM server.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex


def command_line(command: str, model: str, port: int, max_model_len: int, tp: int = 1, dp: int = 1, pp: int = 1,
                 revision: str | None = None, served_name: str | None = None, extra: dict | None = None) -> list[str]:
    """The `vllm serve` command line datatrove's own vLLM server would run, with the configured executable."""
    cmd = [*shlex.split(command), "serve", model, "--port", str(port), "--max-model-len", str(max_model_len),
           "--disable-uvicorn-access-log"]
    flags = dict(extra or {})
    for key, value in (("tensor-parallel-size", tp), ("data-parallel-size", dp), ("pipeline-parallel-size", pp)):
        if value > 1:
            flags.setdefault(key, value)
    if revision:
        flags.setdefault("revision", revision)
    if served_name and served_name != model:
        flags.setdefault("served-model-name", served_name)
    for key, value in flags.items():
        if value is True:
            cmd.append(f"--{key}")
        elif value is False:
            cmd.append(f"--no-{key}")
        else:
            cmd.append(f"--{key}={value}")
    return cmd


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="launch_vllm.py")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--command", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--max-model-len", type=int, required=True)
    parser.add_argument("--tp", type=int, default=1)
    parser.add_argument("--dp", type=int, default=1)
    parser.add_argument("--pp", type=int, default=1)
    parser.add_argument("--revision", default=None)
    parser.add_argument("--served-name", default=None)
    parser.add_argument("--vllm-args", default="{}", help="JSON object of extra `vllm serve` flags")
    a = parser.parse_args(argv)
    cmd = command_line(a.command, a.model, a.port, a.max_model_len, a.tp, a.dp, a.pp, a.revision, a.served_name,
                       json.loads(a.vllm_args))
    env = {**os.environ, "USE_TF": "0", "TRANSFORMERS_NO_TF": "1"}
    os.execvpe(cmd[0], cmd, env)


if __name__ == "__main__":
    main()
