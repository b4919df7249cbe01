"""The flags are derived from the config dataclasses: one flag per field, with its default, type and help."""

from __future__ import annotations

import dataclasses

import pytest
from absl import flags

from pipelines import cli
from tests.conftest import ROOT, run_module


@pytest.fixture(scope="module")
def defined() -> flags.FlagValues:
    if "data_dir" not in flags.FLAGS:  # entry points define them in their own processes
        cli.define_all_flags()
    return flags.FLAGS


@pytest.mark.parametrize("config", cli.CONFIGS, ids=lambda c: c.__name__)
def test_every_field_is_a_flag_with_its_default_and_help(defined: flags.FlagValues, config: type) -> None:
    docs, specs = cli.field_docs(config), cli.flag_specs()
    for field in dataclasses.fields(config):
        assert field.name in defined, f"{config.__name__}.{field.name} has no flag"
        assert defined[field.name].default == field.default, field.name
        if specs[field.name]["owner"] == config.__name__:  # a shared field's help is its first config's
            assert defined[field.name].help.endswith(docs[field.name]), field.name  # enums prefix "<a|b>: "
        if field.metadata.get("choices"):
            assert defined[field.name].parser.enum_values == list(field.metadata["choices"]), field.name


def test_every_flag_is_a_field(defined: flags.FlagValues) -> None:
    fields = {field.name for config in cli.CONFIGS for field in dataclasses.fields(config)}
    ours = {flag.name for module, module_flags in defined.flags_by_module_dict().items()
            if module.endswith("cli.py") or module == "pipelines.cli" for flag in module_flags}  # fmt: skip
    assert ours == fields


def test_field_docs_read_continuation_lines() -> None:
    @dataclasses.dataclass(frozen=True)
    class Example:
        """Example.

        Attributes:
          first: One line.
          second: Two lines
            of help.
        """

        first: int = 1
        second: str = "x"

    assert cli.field_docs(Example) == {"first": "One line.", "second": "Two lines of help."}


def test_a_shared_field_with_another_default_is_refused() -> None:
    @dataclasses.dataclass(frozen=True)
    class Other:
        """Other.

        Attributes:
          model_dir: A different default.
        """

        model_dir: str = "elsewhere"

    with pytest.raises(TypeError, match="--model_dir"):
        cli.flag_specs((*cli.CONFIGS, Other))


def test_a_field_without_help_is_refused() -> None:
    @dataclasses.dataclass(frozen=True)
    class Undocumented:
        """No attributes section."""

        lonely: int = 0

    with pytest.raises(TypeError, match="lonely"):
        cli.flag_specs((Undocumented,))


@pytest.mark.parametrize("module", ["pipelines.prepare", "pipelines.train", "pipelines.evaluate", "pipelines.synthetic",
                                    "export.build", "export.query", "export.serve"])  # fmt: skip
@pytest.mark.parametrize("bad, message", [
    ("--no_such_flag=1", "Unknown command line flag 'no_such_flag'"),
    ("--flagfile=/nonexistent/x.flags", "Unable to open flagfile"),
])  # fmt: skip
def test_a_bad_flag_exits_2_with_one_error_line(module: str, bad: str, message: str) -> None:
    result = run_module(module, bad, timeout=120)
    assert result.returncode == 2, result.stderr[-2000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and message in last and "FATAL" not in result.stderr


def test_a_value_off_its_enum_or_type_exits_2() -> None:
    for bad in ("--release=ml-1000k", "--epochs=many"):
        result = run_module("pipelines.prepare", bad, timeout=120)
        assert result.returncode == 2 and result.stderr.strip().splitlines()[-1].startswith("error: flag --")


def test_helpshort_lists_the_entry_points_own_flags() -> None:
    prepare = run_module("pipelines.prepare", "--helpshort")
    assert prepare.returncode == 0 and "--data_dir" in prepare.stdout and "--release" in prepare.stdout
    assert "--ease_lambda" not in prepare.stdout and "--port" not in prepare.stdout  # another command's
    serve = run_module("export.serve", "--helpshort")
    assert "--port" in serve.stdout and "--model_dir" in serve.stdout and "--epochs" not in serve.stdout


@pytest.mark.parametrize("flagfile", sorted(str(p.relative_to(ROOT)) for p in (ROOT / "configs").glob("*.flags")))
def test_every_shipped_flagfile_parses(flagfile: str) -> None:
    result = run_module("pipelines.train", f"--flagfile={flagfile}", "--helpshort")
    assert result.returncode == 0, result.stderr[-2000:]
