"""The hazard workflow runs outside the SDK's sandbox (workflows/hazard.py says why), so what the sandbox would
refuse at run time is refused here, at test time: the workflow module and every module of ours it imports, read
as source, reach no wall clock, randomness, I/O, threads, settings, database, logging or metrics set-up."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW_MODULE = "workflows.hazard"
OUR_PACKAGES = {path.parent.name for path in ROOT.glob("*/__init__.py")} | {
    path.stem for path in ROOT.glob("*.py") if path.stem != "conftest"
}
# Modules whose mere import means I/O, a clock, randomness, threads or process-wide state.
FORBIDDEN_MODULES = {
    "os",
    "sys",
    "io",
    "time",
    "random",
    "secrets",
    "uuid",
    "socket",
    "threading",
    "multiprocessing",
    "subprocess",
    "logging",
    "structlog",
    "prometheus_client",
    "sqlalchemy",
    "sqlmodel",
    "httpx",
    "fastapi",
    "settings",
    "infra",
    "readmodel",
    "activities",
    "api",
    "evidence",
    "ledgers",
    "imports",
}
# Calls that read the wall clock or the environment: `workflow.now()` is the workflow's clock.
FORBIDDEN_CALLS = {("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"), ("date", "today")}
FORBIDDEN_BUILTINS = {"open", "input", "print", "exec", "eval", "__import__"}


def source_of(module: str) -> Path | None:
    path = ROOT / (module.replace(".", "/") + ".py")
    if path.exists():
        return path
    package = ROOT / module.replace(".", "/") / "__init__.py"
    return package if package.exists() else None


def imported_modules(tree: ast.Module) -> list[str]:
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from workflows import ladder` imports workflows.ladder.
            names += [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
    return names


def workflow_closure() -> dict[str, ast.Module]:
    """The workflow module and every module of ours it imports, transitively, parsed."""
    trees: dict[str, ast.Module] = {}
    todo = [WORKFLOW_MODULE]
    while todo:
        module = todo.pop()
        path = source_of(module)
        if module in trees or path is None:
            continue
        trees[module] = tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        todo += [name for name in imported_modules(tree) if name.split(".")[0] in OUR_PACKAGES]
    return trees


def problems(module: str, tree: ast.Module) -> list[str]:
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [f"{module}: imports {a.name}" for a in node.names if a.name.split(".")[0] in FORBIDDEN_MODULES]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in FORBIDDEN_MODULES:
            found.append(f"{module}: imports {node.module}")
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        function = node.func
        if (
            isinstance(function, ast.Attribute)
            and isinstance(function.value, ast.Name)
            and (function.value.id, function.attr) in FORBIDDEN_CALLS
        ):
            found.append(f"{module}:{node.lineno}: calls {function.value.id}.{function.attr}()")
        if isinstance(function, ast.Name) and function.id in FORBIDDEN_BUILTINS:
            found.append(f"{module}:{node.lineno}: calls {function.id}()")
    return found


def test_the_workflow_and_what_it_imports_reach_no_clock_io_or_global_set_up() -> None:
    trees = workflow_closure()
    # The closure really is followed: the workflow's own logic and its contracts are in it.
    assert {"workflows.hazard", "workflows.lifecycle", "workflows.ladder", "contracts.hazard"} <= set(trees)
    assert [problem for module, tree in trees.items() for problem in problems(module, tree)] == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import time\n", "imports time"),
        ("from readmodel.db import make_engine\n", "imports readmodel.db"),
        ("import os.path\n", "imports os.path"),
        ("from sqlalchemy.orm.session import Session\n", "imports sqlalchemy.orm.session"),
        ("from datetime import datetime\nx = datetime.now()\n", "calls datetime.now()"),
        ("from datetime import date\nx = date.today()\n", "calls date.today()"),
        ("x = open('f')\n", "calls open()"),
    ],
)
def test_the_guard_catches_what_the_sandbox_would(source: str, expected: str) -> None:
    assert [problem.split(": ", 1)[1] for problem in problems("m", ast.parse(source))] == [expected]
