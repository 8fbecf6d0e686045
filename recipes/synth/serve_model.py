"""datatrove's `custom` inference server for the synth recipe: hubtool's transformers server (CPU).

datatrove starts it per task as `python serve_model.py --port N --model=... [--adapter=...]` and waits
for /v1/models to answer. On GPUs the recipe uses `server.type: vllm` instead; the requests are the same.
"""
from __future__ import annotations

import argparse

from hub_tools.serving.openai_server import serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="serve_model.py")
    parser.add_argument("--model", required=True)
    parser.add_argument("--adapter", default=None)
    parser.add_argument("--revision", default=None)
    parser.add_argument("--adapter-revision", default=None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--name", default=None)
    args = parser.parse_args(argv)
    serve(args.model, args.adapter, args.revision, args.adapter_revision, name=args.name, host=args.host,
          port=args.port)


if __name__ == "__main__":
    main()
