"""The package layout: no import cycle between realiisr's modules, ``core`` holds infrastructure only, CLI
modules do not import each other, and the README's architecture table names every package."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import realiisr

PACKAGE = Path(realiisr.__file__).parent
CORE_ALLOWED = {"__init__", "_registry", "_plugins", "registries", "interfaces", "recipes", "build", "weights"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """realiisr modules that ``path`` imports anywhere (module level or inside functions), except under
    ``if TYPE_CHECKING``: a function-level import only postpones a cycle, it does not remove it."""
    found: set[str] = set()
    tree = ast.parse(path.read_text())
    skipped = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
               for n in ast.walk(node)}
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name in modules}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            submodules = {f"{node.module}.{a.name}" for a in node.names} & set(modules)
            found |= submodules
            if node.module in modules and len(submodules) < len(node.names):  # names defined by the module itself
                found.add(node.module)
    return found


def test_no_import_cycles():
    modules = _modules()
    graph = {name: _imports(path, modules) - {name} for name, path in modules.items()}
    cycles, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_core_holds_infrastructure_only():
    core = {p.stem for p in (PACKAGE / "core").glob("*.py")}
    assert core <= CORE_ALLOWED, f"core/ holds {sorted(core - CORE_ALLOWED)}: move them to their kind's package"


def test_cli_modules_do_not_import_each_other():
    """A command's module imports no other command's; what two commands share lives in a private helper module
    (``realiisr/cli/_*.py``) that is no command itself and imports none."""
    for path in (PACKAGE / "cli").glob("*.py"):
        tree = ast.parse(path.read_text())
        if path.stem.startswith("_") and path.stem != "__init__":
            assert "def add_parser" not in path.read_text(), f"{path.name} is a private helper, not a command"
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("realiisr.cli"):
                helper = node.module.rsplit(".", 1)[-1].startswith("_") and not path.stem.startswith("_")
                assert path.stem == "__init__" or helper, f"{path.name} imports {node.module}"


def test_readme_architecture_table_names_every_package():
    path = PACKAGE.parent / "README.md"
    if not path.is_file():
        pytest.skip("README.md is not beside the package (an installed wheel, as in the pure-Python check)")
    readme = path.read_text()
    packages = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file())
    named = set(re.findall(r"`realiisr/(\w+)`", readme))
    assert set(packages) <= named, f"README architecture table misses {sorted(set(packages) - named)}"
