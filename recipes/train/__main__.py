"""`python -m recipes.train --config ...`: the training entry point for `accelerate launch`."""
from hub_tools.cli.recipe import train_cmd

if __name__ == "__main__":
    train_cmd()
