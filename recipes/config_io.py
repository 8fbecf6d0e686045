"""What every recipe config shares: strict pydantic models, and reading one from YAML with errors that name
the file and the field."""
from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from hub_tools.errors import UsageProblem
from pydantic import BaseModel, ConfigDict, ValidationError


class ConfigError(UsageProblem, ValueError):
    """A recipe config that cannot be used; the message names the file and the field."""


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


Config = TypeVar("Config", bound=BaseModel)


def load_yaml_config(path: str | Path, model: type[Config]) -> Config:
    """``model`` validated from the YAML file; its ``_base`` (for relative paths) is the file's folder."""
    path = Path(path)
    try:
        config = model.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    except OSError as err:
        raise ConfigError(f"{path}: cannot read ({err.strerror})") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: invalid YAML: {err}") from None
    except ValidationError as err:
        raise ConfigError("\n".join(f"{path}: {'.'.join(map(str, e['loc'])) or '(top level)'}: {e['msg']}"
                                    for e in err.errors())) from None
    config._base = path.resolve().parent
    return config


def validate_config(data: dict, model: type[Config], base: str | Path, where: str) -> Config:
    """``model`` validated from a mapping (e.g. a config file resolved by `hubtool build`); relative paths in it
    resolve against ``base``; errors name ``where``."""
    try:
        config = model.model_validate(data)
    except ValidationError as err:
        raise ConfigError("\n".join(f"{where}: {'.'.join(map(str, e['loc'])) or '(top level)'}: {e['msg']}"
                                    for e in err.errors())) from None
    config._base = Path(base).resolve()
    return config
