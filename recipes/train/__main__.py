"""`python -m recipes.train --config ...`: the training entry point for `accelerate launch -m recipes.train`.

It calls the recipe directly (not the CLI), so every rank runs the same library code."""
from __future__ import annotations

import argparse
from pathlib import Path

from recipes.train.config import load_train_config
from recipes.train.run import train_grid


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m recipes.train", description=__doc__)
    parser.add_argument("--config", required=True, type=Path, help="A train config (recipes/configs/train/*.yaml).")
    parser.add_argument("--variant", action="append", default=[], help="Train only this variant (repeatable).")
    parser.add_argument("--resume", action="store_true", help="Continue from the last checkpoint of each variant.")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args(argv)
    for r in train_grid(load_train_config(args.config), tuple(args.variant), args.output, resume=args.resume,
                        on_step=print):
        print(f"{r.variant}: {r.global_step} steps, wrote {r.output}")


if __name__ == "__main__":
    main()
