"""The ``hubtool`` command line. Each command group lives in its own module; this one wires them."""
from __future__ import annotations

import logging
import os

import click

from hub_tools import __version__


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


def _register_commands() -> None:
    from hub_tools.cli.card import card
    from hub_tools.cli.hub import hub
    from hub_tools.cli.publish import push, release, verify
    from hub_tools.cli.quickstart import quickstart
    from hub_tools.cli.recipe import recipe
    from hub_tools.cli.serve import serve_model
    from hub_tools.cli.space import space
    from hub_tools.cli.validate import validate

    for command in (hub, serve_model, quickstart, validate, card, push, release, verify, recipe, space):
        main.add_command(command)


_register_commands()

if __name__ == "__main__":
    main()
