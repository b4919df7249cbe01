"""The command line of every `python -m` entry point: absl flags derived from the config dataclasses.

One source per default: each flag is a field of a frozen config dataclass, with the field's type, default,
`choices` metadata (an enum flag) and its line in the class docstring's `Attributes:` section as help.
Every entry point defines all of them (`define_all_flags`), so one flagfile drives prepare, train,
evaluate, export, query and serve alike; `main` turns FLAGS into configs once with `config_from_flags` and
passes configs down (STYLE.md: flags live in entry points). A field name shared by two configs (model_dir,
data_dir, ...) is one flag, and the two fields must agree on type and default.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import logging
import os
import re
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from absl import flags
from absl import logging as absl_logging

from export.config import ExportConfig, QueryConfig, ServeConfig
from pipelines.data.errors import DataError
from pipelines.data.prepared import PrepareConfig
from pipelines.evaluation.baselines.registry import BaselineConfig
from pipelines.evaluation.suite import EvaluateConfig
from pipelines.training.config import InputConfig, TrainConfig
from towers.config import GenomeConfig, TowerConfig

FLAGS = flags.FLAGS
HELP_FLAGS = {"help", "helpshort", "helpfull", "helpxml", "h", "?"}
Config = TypeVar("Config")
CONFIGS: tuple[type, ...] = (
    PrepareConfig,
    EvaluateConfig,
    BaselineConfig,
    TrainConfig,
    InputConfig,
    TowerConfig,
    GenomeConfig,
    ExportConfig,
    QueryConfig,
    ServeConfig,
)
_DEFINE = {
    "str": flags.DEFINE_string,
    "int": flags.DEFINE_integer,
    "float": flags.DEFINE_float,
    "bool": flags.DEFINE_bool,
}
_ENTRY = re.compile(r"^(\s+)(\w+): (.*)$")


def field_docs(cls: type) -> dict[str, str]:
    """Field name -> its text in the `Attributes:` sections of `cls` and its bases (one line per field,
    continuation lines indented deeper)."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        lines = inspect.cleandoc(klass.__dict__.get("__doc__") or "").splitlines()
        if "Attributes:" not in lines:
            continue
        indent, name = None, None
        for line in lines[lines.index("Attributes:") + 1 :]:
            match = _ENTRY.match(line)
            if match and (indent is None or len(match.group(1)) == indent):
                indent, name = len(match.group(1)), match.group(2)
                docs[name] = match.group(3).strip()
            elif name and line.strip() and len(line) - len(line.lstrip()) > (indent or 0):
                docs[name] += " " + line.strip()
            elif line.strip():
                break
    return docs


def flag_specs(configs: tuple[type, ...] = CONFIGS) -> dict[str, dict[str, Any]]:
    """Flag name -> {kind, default, help, choices}, one per distinct field name of `configs`.

    Raises:
      TypeError: a field without help, of a type the command line cannot carry, or shared by two configs
        with different types or defaults (the defaults would drift apart).
    """
    specs: dict[str, dict[str, Any]] = {}
    for cls in configs:
        docs = field_docs(cls)
        for field in dataclasses.fields(cls):
            kind = str(field.type).replace(" | None", "")
            if kind not in _DEFINE:
                raise TypeError(f"{cls.__name__}.{field.name}: type {field.type} has no flag kind")
            if not docs.get(field.name):
                raise TypeError(f"{cls.__name__}.{field.name}: no help line in the class docstring's Attributes")
            spec = {"kind": kind, "default": field.default, "help": docs[field.name],
                    "choices": field.metadata.get("choices")}  # fmt: skip
            seen = specs.get(field.name)
            if seen is None:
                specs[field.name] = {**spec, "owner": cls.__name__}
            elif (seen["kind"], seen["default"]) != (kind, field.default):
                raise TypeError(
                    f"--{field.name}: {seen['owner']} has {seen['kind']} {seen['default']!r}, "
                    f"{cls.__name__} has {kind} {field.default!r}"
                )
    return specs


def define_all_flags(*key: type | str) -> None:
    """Defines one absl flag per config field (see flag_specs). The fields of the `key` configs (and flags
    named in it) are the entry point's key flags: what --helpshort lists; --helpfull lists every flag."""
    for name, spec in flag_specs().items():
        if spec["choices"]:
            flags.DEFINE_enum(name, spec["default"], list(spec["choices"]), spec["help"])
        else:
            _DEFINE[spec["kind"]](name, spec["default"], spec["help"])
    names = [n for k in key for n in ([k] if isinstance(k, str) else [f.name for f in dataclasses.fields(k)])]
    for name in dict.fromkeys(names):
        # absl files a `python -m` entry point's flags under sys.argv[0], the module --helpshort describes.
        FLAGS.register_key_flag_for_module(sys.argv[0], FLAGS[name])


def config_from_flags(cls: type[Config]) -> Config:
    """The frozen config dataclass `cls`, its fields read from the flags of the same names."""
    return cls(**{field.name: FLAGS[field.name].value for field in dataclasses.fields(cls)})  # type: ignore[arg-type]


def parse_flags(argv: list[str]) -> list[str]:
    """absl's flag parsing for `app.run(main, flags_parser=cli.parse_flags)`: a bad flag (unknown, of the
    wrong type, off its enum, a flagfile that cannot be opened) ends with one `error:` line and exit code 2,
    as every other bad input does, instead of absl's FATAL message and exit code 1."""
    try:
        rest = flags.FLAGS(argv)
    except flags.Error as error:
        print(f"error: {error}".replace("\n", " "), file=sys.stderr)
        sys.exit(2)
    except SystemExit:  # absl exits 1 after printing --help, --helpshort, --helpfull: asked for, not an error
        if any(arg.lstrip("-").split("=")[0] in HELP_FLAGS for arg in argv[1:]):
            sys.exit(0)
        raise
    quiet_logs()
    return rest


def quiet_logs() -> None:
    """absl's and TensorFlow's Python logs at warning level, TensorFlow's own notices (untraced functions,
    checkpoint sharding) at error level, unless --verbosity asks for more. The C++ side is quietened before
    TensorFlow is imported (pipelines/__init__.py)."""
    if FLAGS["verbosity"].present:
        return
    absl_logging.set_verbosity(absl_logging.WARNING)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)


def exits_2_on_bad_input(main: Callable[[list[str]], None]) -> Callable[[list[str]], None]:
    """Wraps an absl `main`: bad input ends with a one-line `error: ...` on stderr and exit code 2."""

    @functools.wraps(main)
    def wrapped(argv: list[str]) -> None:
        if len(argv) > 1:
            print(f"error: unexpected arguments {argv[1:]}", file=sys.stderr)
            sys.exit(2)
        try:
            main(argv)
        except (DataError, ValueError, OSError, ImportError) as error:  # ImportError: e.g. scann missing
            if os.environ.get("TWO_TOWER_TRACEBACK"):
                raise
            print(f"error: {error}".replace("\n", " "), file=sys.stderr)
            sys.exit(2)

    return wrapped
