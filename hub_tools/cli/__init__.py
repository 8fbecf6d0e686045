"""The ``hubtool`` command line. Each command group lives in its own module; this one wires them."""
from __future__ import annotations

import logging
import os

import click

from hub_tools import __version__
from hub_tools.errors import HubtoolError, format_error


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


class _ReportedError(click.ClickException):
    """A HubtoolError as click prints it: ``Error: what``, then where and how to fix; its own exit code."""

    def __init__(self, err: HubtoolError):
        super().__init__(format_error(err))
        self.exit_code = err.exit_code


class HubtoolGroup(click.Group):
    """The entry point's one error formatter: every HubtoolError raised below becomes advice and an exit
    code, instead of each command catching it."""

    def invoke(self, ctx: click.Context):
        from huggingface_hub.errors import HfHubHTTPError

        try:
            return super().invoke(ctx)
        except HubtoolError as err:
            raise _ReportedError(err) from None
        except (OSError, HfHubHTTPError) as err:  # a Hub, file or network refusal from a library
            if ctx.params.get("verbose"):
                raise
            raise click.ClickException(f"{err}\n(run `hubtool -v ...` for the traceback)") from None


@click.group(cls=HubtoolGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
             epilog="""\b
Examples:
  hubtool quickstart                      # the end-to-end demo on the local hub and bundled data
  hubtool validate release.yaml
  hubtool release release.yaml --dry-run

Run `hubtool COMMAND --help` for a command's options and examples.""")
@click.version_option(__version__, prog_name="hubtool")
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def main(verbose: bool) -> None:
    """hubtool: validate, document, publish and verify the corpora, instruction sets, adapters,
    evaluation results and demos of a low-resource-language LLM project on the Hugging Face Hub.

    With no endpoint and no token configured, commands use the local staging hub
    (started in the background when needed)."""
    _setup_logging(verbose)


def _register_commands() -> None:
    from hub_tools.cli.adopt import adopt
    from hub_tools.cli.build import build
    from hub_tools.cli.card import card
    from hub_tools.cli.diff import diff
    from hub_tools.cli.hub import hub
    from hub_tools.cli.publish import push, release, verify
    from hub_tools.cli.quickstart import quickstart
    from hub_tools.cli.recipe import recipe
    from hub_tools.cli.serve import serve_model
    from hub_tools.cli.space import space
    from hub_tools.cli.validate import validate

    for command in (hub, serve_model, quickstart, build, validate, adopt, card, push, release, verify, diff, recipe,
                    space):
        main.add_command(command)


_register_commands()

if __name__ == "__main__":
    main()
