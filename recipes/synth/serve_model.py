"""datatrove's `custom` inference server for the synth recipe: `hubtool serve-model` (transformers, CPU).

datatrove starts it per task as `python serve_model.py --port N --model=... [--adapter=...]` and waits
for /v1/models to answer. On GPUs the recipe uses `server.type: vllm` instead; the requests are the same.
"""
import sys

from hub_tools.cli import main

if __name__ == "__main__":
    main(["serve-model", *sys.argv[1:]])
