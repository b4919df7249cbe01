"""Every config dataclass field has a flag of the same name and the same default."""

from __future__ import annotations

import dataclasses

import pytest
from absl import flags

from pipelines import cli
from pipelines.input import InputConfig
from pipelines.prepare import PrepareConfig
from pipelines.training import TrainConfig
from towers.genome_encoder import GenomeConfig
from towers.towers import TowerConfig

CONFIGS = [PrepareConfig, InputConfig, TowerConfig, GenomeConfig, TrainConfig]


@pytest.fixture(scope="module")
def defined() -> flags.FlagValues:
    if "data_dir" not in flags.FLAGS:  # entry points define them in their own processes
        cli.define_all_flags()
    return flags.FLAGS


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.__name__)
def test_flag_defaults_match_config_defaults(defined: flags.FlagValues, config: type) -> None:
    for field in dataclasses.fields(config):
        assert field.name in defined, f"{config.__name__}.{field.name} has no flag"
        assert defined[field.name].default == field.default, (
            f"{field.name}: flag {defined[field.name].default} != {field.default}"
        )
