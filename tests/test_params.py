import re

import pytest

from sentiment_pipeline.params import (
    DEFAULTS,
    PARAMETERS,
    PREPROCESS,
    TRAIN,
    ParamError,
    notebook_parameters,
    parse_overrides,
    resolve,
)
from support.project import NOTEBOOKS, ROOT


def test_overrides_take_the_type_of_the_default():
    assert parse_overrides(["epochs=3", "learning_rate=0.01", "remove_stop_words=yes", "stemmer=porter"]) == {
        "epochs": 3,
        "learning_rate": 0.01,
        "remove_stop_words": True,
        "stemmer": "porter",
    }


@pytest.mark.parametrize(
    ("pairs", "message"),
    [(["epoch=3"], "unknown parameter 'epoch'"), (["epochs=three"], "not a valid int"), (["epochs"], "not key=value")],
)
def test_bad_overrides_are_errors(pairs, message):
    with pytest.raises(ParamError, match=message):
        parse_overrides(pairs)


def test_resolve_checks_ranges_and_records_everything():
    assert resolve() == DEFAULTS
    with pytest.raises(ParamError, match="dropout"):
        resolve({"dropout": 1.5})
    with pytest.raises(ParamError, match="epochs"):
        resolve({"epochs": 0})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("val_size", 1.5),
        ("test_size", 0.0),
        ("learning_rate", -1.0),
        ("learning_rate", float("nan")),
        ("ensemble_size", 0),
        ("patience", -5),
        ("batch_size", 100_000_000),
        ("stemmer", "lancaster"),
        ("epochs", True),
    ],
)
def test_every_parameter_is_range_checked_before_a_run(name, value):
    with pytest.raises(ParamError, match=f"parameter {name}"):
        resolve({name: value})


def test_the_splits_leave_most_of_the_data_for_training():
    assert resolve({"val_size": 0.25, "test_size": 0.25})["val_size"] == 0.25
    with pytest.raises(ParamError, match="val_size \\+ test_size"):
        resolve({"val_size": 0.3, "test_size": 0.3})


def test_the_models_seed_never_reaches_the_split():
    """Runs that differ only in `seed` share their splits, so comparing them measures the training noise alone."""
    assert "split_seed" in notebook_parameters(PREPROCESS) and "seed" not in notebook_parameters(PREPROCESS)
    assert "seed" in notebook_parameters(TRAIN) and "split_seed" not in notebook_parameters(TRAIN)


def test_each_parameter_has_a_schema_its_default_satisfies():
    for parameter in PARAMETERS:
        parameter.check(parameter.default)
        schema = parameter.schema()
        assert schema["description"] and schema["type"] in {"boolean", "integer", "number", "string"}
        assert parameter.kind is bool or parameter.choices or "minimum" in schema or "exclusiveMinimum" in schema


@pytest.mark.parametrize("notebook", [PREPROCESS, TRAIN])
def test_a_notebooks_parameters_cell_declares_exactly_its_parameters_with_the_package_defaults(notebook):
    import nbformat

    cells = nbformat.read(NOTEBOOKS / f"{notebook}.ipynb", as_version=4).cells
    [cell] = [c for c in cells if "parameters" in c.metadata.get("tags", [])]
    declared: dict = {}
    exec(cell.source, {}, declared)  # the cell only assigns literals
    paths = {name for name in declared if name.endswith(("_dir", "_path"))}  # where the runner stages files
    assert {k: v for k, v in declared.items() if k not in paths} == notebook_parameters(notebook)


def test_the_readme_table_lists_every_parameter_with_its_default():
    text = (ROOT / "README.md").read_text()
    table = text.split("| parameter | default | meaning |", 1)[1].split("\n\n", 1)[0]
    listed: dict[str, str] = {}
    for row in table.strip().splitlines()[1:]:
        names_cell, defaults_cell = (cell.strip() for cell in row.strip("|").split("|")[:2])
        names = re.findall(r"`([a-z_]+)`", names_cell)
        defaults = [d.strip().strip("`") for d in defaults_cell.split(",")]
        assert len(names) == len(defaults), row
        listed.update(zip(names, defaults, strict=True))
    assert set(listed) == set(DEFAULTS), (
        f"README lacks {set(DEFAULTS) - set(listed)}, has extra {set(listed) - set(DEFAULTS)}"
    )
    for name, shown in listed.items():
        assert parse_overrides([f"{name}={shown}"])[name] == DEFAULTS[name], (name, shown)
