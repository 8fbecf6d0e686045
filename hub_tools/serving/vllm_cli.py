"""`python -m hub_tools.serving.vllm_cli serve MODEL --port N ...`: hubtool's transformers server behind vLLM's
command line, so a recipe configured to start vLLM from a command (synth `server.vllm_command`) runs on a
machine without a GPU, with the same OpenAI-compatible API. vLLM's tuning flags are accepted and ignored."""
from __future__ import annotations

import argparse
import sys

from .openai_server import serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="vllm_cli")
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve")
    s.add_argument("model")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--revision", default=None)
    s.add_argument("--served-model-name", default=None)
    args, ignored = parser.parse_known_args(argv)
    if ignored:
        print(f"vllm_cli: ignoring vLLM flags {' '.join(ignored)}", file=sys.stderr, flush=True)
    serve(args.model, revision=args.revision, name=args.served_model_name, host=args.host, port=args.port)


if __name__ == "__main__":
    main()
