"""The packages import downward only (docs/architecture.md), and no module imports itself round a loop.

Imports are read from the source with ``ast``, every ``import`` statement included (those inside
functions too: a lazy import hides a cycle from Python, not from the design).
"""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[2] / "bilby_dingo"

# Lowest first. A module may import its own layer and those below it, never one above.
LAYERS = [
    {"_version", "errors", "utils", "prior_strings"},  # helpers every step uses
    {"simulation", "data"},  # waveforms, detectors, noise; real strain
    {"network"},  # the flow and its model file
    {"training", "models"},  # the training loop; the shipped model
    {"proposals"},  # q(θ): prior, Student-t, network, GNPE, fitted mixtures
    {"importance_sampling"},  # weights, evidence, checkpoints, refinement, merging
    {"settings", "plugin"},  # the bilby sampler
    {"validation", "cli", "__init__"},  # entry points and the package's public face
]
LAYER = {name: depth for depth, names in enumerate(LAYERS) for name in names}


def module_name(path):
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_package(path):
    return path.name == "__init__.py"


def imported_modules(path):
    """The bilby_dingo modules ``path`` imports (absolute names, relative imports resolved)."""
    name = module_name(path)
    package = name if is_package(path) else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == "bilby_dingo")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "bilby_dingo":
                continue
            # `from . import x` may name a submodule: count it as one where it is one.
            for alias in node.names:
                candidate = f"{target}.{alias.name}"
                found.add(candidate if candidate in MODULES else target)
    return found


SOURCES = sorted(PACKAGE.rglob("*.py"))
MODULES = {module_name(path) for path in SOURCES}


def layer_of(module):
    """The layer of a bilby_dingo module: its top-level package or module below bilby_dingo."""
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else "__init__"
    if top not in LAYER:
        raise AssertionError(f"{module} is in no layer: add '{top}' to LAYERS in {__file__} "
                             f"(and to docs/architecture.md).")
    return LAYER[top]


@pytest.mark.parametrize("path", SOURCES, ids=lambda path: module_name(path))
def test_no_module_imports_an_upper_layer(path):
    importer = module_name(path)
    upward = sorted(module for module in imported_modules(path) if layer_of(module) > layer_of(importer))
    assert not upward, (f"{importer} (layer {layer_of(importer)}) imports {upward} from a layer above it "
                        f"(layers, lowest first: {LAYERS}). Move the shared code down, or the caller up.")


def test_no_import_cycles():
    graph = {module_name(path): imported_modules(path) & MODULES for path in SOURCES}
    cycles, state = [], {}

    def visit(module, stack):
        state[module] = "open"
        for target in sorted(graph.get(module, ())):
            if state.get(target) == "open":
                cycles.append(" -> ".join(stack[stack.index(target):] + [target]))
            elif target not in state:
                visit(target, stack + [target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, f"import cycles: {cycles}. Move the shared code into a module both can import."


def test_every_source_folder_is_a_package_a_wheel_installs():
    """A folder of modules without ``__init__.py`` works in an editable install (a namespace package) but is
    left out of a wheel or ``pip install .``: setup.cfg's ``packages = find:`` finds regular packages only
    (this happened to ``bilby_dingo/simulation``). setuptools is not imported here: inside the suite another
    package may already have imported the standard library's distutils, which setuptools refuses."""
    setup_cfg = (PACKAGE.parent / "setup.cfg").read_text()
    assert "packages = find:" in setup_cfg and "include = bilby_dingo, bilby_dingo.*" in setup_cfg
    folders = {path.parent for path in PACKAGE.rglob("*.py") if "__pycache__" not in path.parts}
    missing = sorted(str(folder.relative_to(PACKAGE.parent)) for folder in folders
                     if not (folder / "__init__.py").exists())
    assert not missing, f"add __init__.py to {missing}"
