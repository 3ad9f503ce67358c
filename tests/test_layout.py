"""The package's folders are the architecture (README "Layout"): each group imports only what its image has.

Checked in a fresh interpreter per module, so one test's imports cannot hide another module's.
"""

from __future__ import annotations

import ast
import json
import tomllib
from pathlib import Path

import pytest
import yaml

from support.project import ROOT, in_fresh_interpreter
from support.serving import NOT_IN_THE_BENTO

PACKAGE = ROOT / "sentiment_pipeline"
GROUPS = ("inference", "training", "records", "deploy")
# Heavy or image-specific top-level packages; a group may import only those its image installs and it needs.
TRAINING_ONLY = {"pandas", "sklearn", "matplotlib", "papermill", "nbconvert", "torch", "transformers"}
FORBIDDEN = {
    # The bento: cleaning, tokenizer, the ONNX Runtime predictor and BentoML; nothing that trains, no TensorFlow.
    "inference": TRAINING_ONLY | NOT_IN_THE_BENTO | {"airflow", "boto3"},
    # Read by every image, the Airflow one included: standard library only at import time.
    "records": TRAINING_ONLY | {"airflow", "tensorflow", "keras", "numpy", "nltk", "bentoml", "boto3", "pydantic"},
    # Imported by Airflow tasks in an image without the package's dependencies; heavy imports go inside functions.
    "deploy": TRAINING_ONLY | {"airflow", "tensorflow", "keras", "numpy", "nltk", "bentoml", "boto3", "pydantic"},
}
# The groups each may import: inference and records stand alone; deploy reads records (and, through params.py,
# the cleaning options); training uses inference and records. Nothing imports deploy.
ALLOWED_GROUPS = {
    "inference": set(),
    "records": set(),
    "deploy": {"records", "inference"},
    "training": {"inference", "records"},
}
# Single modules of another group a group may import besides ALLOWED_GROUPS: the service's capture writes through the
# records' store, in the layout records/captures.py defines (and the bento includes exactly those files).
ALLOWED_MODULES = {
    "inference": {
        "sentiment_pipeline.records",
        "sentiment_pipeline.records.store",
        "sentiment_pipeline.records.captures",
    }
}


# Airflow's plugin manager imports this one module of deploy/ (the package's `airflow.plugins` entry point): it is the
# Airflow plugin class itself, so it imports Airflow; nothing of the package imports it.
AIRFLOW_PLUGIN = "sentiment_pipeline.deploy.airflow_plugin"
# The assets the DAG files share (Airflow's task SDK objects): only DAG files import it, never the package.
AIRFLOW_ASSETS = "sentiment_pipeline.deploy.airflow_assets"
AIRFLOW_ONLY = (AIRFLOW_PLUGIN, AIRFLOW_ASSETS)


def modules(group: str) -> list[str]:
    return sorted(
        f"sentiment_pipeline.{group}.{p.stem}" if p.stem != "__init__" else f"sentiment_pipeline.{group}"
        for p in (PACKAGE / group).glob("*.py")
        if f"sentiment_pipeline.{group}.{p.stem}" not in AIRFLOW_ONLY
    )


def test_the_airflow_plugin_is_an_entry_point_and_only_airflow_imports_it():
    entry_points = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["airflow.plugins"]
    assert entry_points == {"sentiment_store": f"{AIRFLOW_PLUGIN}:SentimentStorePlugin"}
    plugin = PACKAGE / "deploy" / "airflow_plugin.py"
    for path in PACKAGE.rglob("*.py"):
        assert plugin not in package_imports(path), f"{path} imports the Airflow plugin"
    loaded = imported_after(AIRFLOW_PLUGIN)  # with Airflow, as its plugin manager loads it: nothing that trains
    heavy = {n.split(".")[0] for n in loaded} & (TRAINING_ONLY | {"tensorflow", "keras", "bentoml"})
    assert not heavy, heavy


def test_only_the_dag_files_import_the_shared_airflow_assets():
    assets = PACKAGE / "deploy" / "airflow_assets.py"
    for path in PACKAGE.rglob("*.py"):
        assert assets not in package_imports(path), f"{path} imports the Airflow assets"
    importers = {path.name for path in (ROOT / "dags").glob("*.py") if assets in package_imports(path)}
    assert importers == {"sentiment_training.py", "sentiment_monitoring.py"}
    heavy = {n.split(".")[0] for n in imported_after(AIRFLOW_ASSETS)} & (TRAINING_ONLY | {"tensorflow", "bentoml"})
    assert not heavy, heavy


def imported_after(module: str, blocked: set[str] = frozenset()) -> set[str]:
    """sys.modules after importing ``module`` alone in a fresh interpreter where ``blocked`` cannot be imported.

    Blocking, not just looking: TensorFlow and Keras import pandas, scikit-learn and matplotlib when they are
    installed; with them blocked, the import must still succeed, as it does in an image without them.
    """
    code = f"import json, sys; import {module}; print(json.dumps(sorted(k for k, v in sys.modules.items() if v)))"
    return set(in_fresh_interpreter(code, blocked))


@pytest.mark.parametrize("module", [m for g in ("inference", "records", "deploy") for m in modules(g)])
def test_each_group_imports_only_what_its_image_has(module):
    group = module.split(".")[1]
    loaded = imported_after(module, FORBIDDEN[group])
    heavy = {name for name in loaded if name.split(".")[0] in FORBIDDEN[group]}
    assert not heavy, f"{module} imports {sorted({n.split('.')[0] for n in heavy})}"
    others = {
        n.split(".")[1]
        for n in loaded
        if n.startswith("sentiment_pipeline.") and n.count(".") >= 1 and n not in ALLOWED_MODULES.get(group, ())
    }
    crossed = (others & set(GROUPS)) - {group} - ALLOWED_GROUPS[group]
    assert not crossed, f"{module} imports sentiment_pipeline.{sorted(crossed)}"


def test_the_cli_and_parameters_start_without_heavy_imports():
    """`sentiment-pipeline --help`, the DAG's form and params.py load no TensorFlow, pandas or Airflow."""
    for module in ("sentiment_pipeline.cli", "sentiment_pipeline.params", "sentiment_pipeline.errors"):
        heavy = {n.split(".")[0] for n in imported_after(module)} & (FORBIDDEN["deploy"] - {"pydantic"})
        assert not heavy, f"{module} imports {sorted(heavy)}"


def package_imports(path: Path) -> set[Path]:
    """Files of the package that ``path`` imports anywhere in it (top level or inside functions)."""
    found: set[Path] = set()
    here = path.parent
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = here.joinpath(*[".."] * (node.level - 1)).resolve()
                parts = (node.module or "").split(".") if node.module else []
            elif (node.module or "").startswith("sentiment_pipeline"):
                base, parts = ROOT, node.module.split(".")
            else:
                continue
            target = base.joinpath(*parts)
            candidates = [target.with_suffix(".py"), target / "__init__.py"]
            candidates += [target / f"{alias.name}.py" for alias in node.names]
            found.update(c for c in candidates if c.is_file())
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("sentiment_pipeline"):
                    target = ROOT.joinpath(*alias.name.split("."))
                    found.update(c for c in (target.with_suffix(".py"), target / "__init__.py") if c.is_file())
    return found


def test_the_bento_includes_the_inference_folder_and_the_service_needs_nothing_outside_it():
    included = yaml.safe_load((ROOT / "bentofile.yaml").read_text())["include"]
    capture = ["errors.py", "records/__init__.py", "records/store.py", "records/captures.py"]
    assert included == [
        "/service.py",
        "/sentiment_pipeline/__init__.py",
        "/sentiment_pipeline/inference/**/*.py",
        *(f"/sentiment_pipeline/{name}" for name in capture),
    ]
    needed, queue = set(), [ROOT / "service.py"]
    while queue:
        for path in package_imports(queue.pop()) - needed:
            needed.add(path)
            queue.append(path)
    bento = {PACKAGE / "__init__.py", *(PACKAGE / "inference").glob("*.py"), *(PACKAGE / name for name in capture)}
    outside = sorted(str(p.relative_to(ROOT)) for p in needed - bento)
    assert not outside, f"service.py needs {outside}, which the bento leaves out"
    assert PACKAGE / "inference" / "predictor.py" in needed  # the walk does follow the service's imports
    assert PACKAGE / "records" / "captures.py" in needed and PACKAGE / "records" / "record.py" not in needed


def test_no_module_is_left_at_the_top_but_the_shared_ones():
    """Where a newcomer looks: every module is in a group folder except these, used by several of them: the CLI, the
    errors, the parameter table and a sweep's plan over it (the CLI and training run a sweep, deploy's DAG maps it)."""
    top = sorted(p.stem for p in PACKAGE.glob("*.py"))
    assert top == ["__init__", "cli", "errors", "params", "sweep_plan"]


def test_nothing_imports_deploy_and_training_imports_no_airflow():
    """Deploy sits on top (it packages what training made); reading the files is enough, no TensorFlow start."""
    for path in PACKAGE.rglob("*.py"):
        if path.parent.name == "deploy" or path.name == "cli.py":
            continue
        into_deploy = [p for p in package_imports(path) if p.parent.name == "deploy"]
        assert not into_deploy, f"{path.relative_to(ROOT)} imports {into_deploy}"
        if path.parent.name == "training":
            nodes = list(ast.walk(ast.parse(path.read_text())))
            names = {a.name for n in nodes if isinstance(n, ast.Import) for a in n.names}
            names |= {n.module or "" for n in nodes if isinstance(n, ast.ImportFrom)}
            assert not {n for n in names if n.split(".")[0] == "airflow"}, path


def test_deploy_imports_no_training_code_at_any_depth():
    """deploy/ is the Airflow image's room, which has no training dependencies: an import of training/ inside a
    function only fails there, when that function runs (the gate's scoring did). What needs training code (the gate,
    the export of an older run at registration) lives in training/ or is handed in by the CLI."""
    for path in sorted((PACKAGE / "deploy").glob("*.py")):
        into_training = sorted(str(p.relative_to(ROOT)) for p in package_imports(path) if p.parent.name == "training")
        assert not into_training, f"{path.relative_to(ROOT)} imports {into_training}"


def test_only_records_spells_a_record_file_name():
    """records/ owns the record: every other module and the notebooks take its names and paths from there, so a
    file of the record is renamed or moved in one place. Prose (help texts, messages: anything with a space) and
    docstrings may name the files; a literal that *is* a record path may not."""
    from sentiment_pipeline.records import record

    names = {record.PARAMS, record.METRICS, record.MANIFEST, record.REPRODUCTION, record.GATE, record.LATEST}
    names |= {record.DEPLOYED, record.INDEX, record.BENTO_CONTEXT, *(record.split_path(p) for p in ("train", "test"))}
    names |= {record.SWEEP, record.SWEEP_NOTEBOOK, record.SWEEP_REPORT}
    record_parts = ("train", "val", "test")
    folders = (record.RUNS, record.NOTEBOOKS_DIR, record.REPORTS_DIR, record.COMPARISONS, record.MODEL_DIR, "bento/")
    folders += (record.SWEEPS,)

    def is_record_path(value: str) -> bool:
        if " " in value:
            return False
        # data/ alone (an f-string's head) or a part of the split: the project's data/sample.csv is not a record's
        split = value == record.DATA_DIR or value.startswith(tuple(record.split_path(p)[:-4] for p in record_parts))
        return value in names or split or value.startswith(folders) or any(value.endswith(f"/{n}") for n in names)

    sources = {p: p.read_text() for p in PACKAGE.rglob("*.py") if "records" not in p.relative_to(PACKAGE).parts}
    sources |= {p: p.read_text() for p in [ROOT / "service.py", *ROOT.glob("dags/*.py")]}
    for notebook in ROOT.glob("notebooks/*.ipynb"):
        cells = json.loads(notebook.read_text())["cells"]
        sources[notebook] = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    offenders = []
    for path, source in sources.items():
        tree = ast.parse(source)
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            and node.body
            and isinstance(node.body[0], ast.Expr)
        }
        offenders += [
            f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
            and is_record_path(node.value)
        ]
    assert not offenders, "\n".join(offenders)
    # and the check sees one: the runner's temp copy of the metrics, as the notebook once wrote it
    assert is_record_path("metrics.json") and is_record_path("data/") and not is_record_path("data/sample.csv")
    assert is_record_path("runs/x/gate.json") and not is_record_path("a gate.json")
