"""The product's imports run one way: scripts -> options -> models, datasets -> util sub-packages -> util core.

Walks every module's `import` statements (also those inside functions) with `ast` and fails naming each
import that points up or sideways. No allow-list: a new exception means a layer is in the wrong place.
"""
import ast
import os

import pytest

from tests.helpers import ROOT_DIR

SCRIPTS = ("train", "test", "export")
UTIL_SUBPACKAGES = ("util.train", "util.translate", "util.eval")
# What each layer may import from the product (besides itself and anything outside the product).
ALLOWED = {
    "scripts": ("options", "models", "datasets", "util"),
    "options": ("models", "datasets", "util"),
    "models": ("util.core",),
    "datasets": ("util.core",),
    "util.train": ("util.core",),
    "util.translate": ("util.core",),
    "util.eval": ("util.core",),
    "util.core": (),
}
PRODUCT_ROOTS = ("options", "models", "datasets", "util") + SCRIPTS


def layer_of(module: str) -> str:
    """The layer of a product module name such as 'util.eval.fid' or 'train'."""
    if module in SCRIPTS:
        return "scripts"
    for sub in UTIL_SUBPACKAGES:
        if module == sub or module.startswith(sub + "."):
            return sub
    if module == "util" or module.startswith("util."):
        return "util.core"
    return module.split(".")[0]


def allowed(source_layer: str, target_layer: str) -> bool:
    """Whether `source_layer` may import from `target_layer`."""
    if source_layer == target_layer:
        return True
    for permitted in ALLOWED[source_layer]:
        if target_layer == permitted or (permitted == "util" and target_layer.startswith("util")):
            return True
    return False


def product_modules():
    """(module name, file path) of every product module: the scripts and the four packages."""
    for script in SCRIPTS:
        yield script, os.path.join(ROOT_DIR, f"{script}.py")
    for package in ("options", "models", "datasets", "util"):
        for folder, _, files in os.walk(os.path.join(ROOT_DIR, package)):
            for name in sorted(files):
                if name.endswith(".py"):
                    path = os.path.join(folder, name)
                    relative = os.path.relpath(path, ROOT_DIR)[:-3].replace(os.sep, ".")
                    yield relative[:-len(".__init__")] if relative.endswith(".__init__") else relative, path


def imported_modules(module: str, path: str):
    """(line, imported module name) for each import in the file, relative imports resolved."""
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            # `from util import fid` names the module util.fid, `from util.x import f` the module util.x
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}" if _is_module(f"{base}.{alias.name}") else base


def _is_module(name: str) -> bool:
    path = os.path.join(ROOT_DIR, *name.split("."))
    return os.path.isfile(path + ".py") or os.path.isfile(os.path.join(path, "__init__.py"))


def violations():
    """Every product import that breaks the layer rule, as 'file:line: a (layer) imports b (layer)'."""
    found = []
    for module, path in product_modules():
        source = layer_of(module)
        for line, target in imported_modules(module, path):
            if target.split(".")[0] not in PRODUCT_ROOTS:
                continue
            if not allowed(source, layer_of(target)):
                found.append(f"{os.path.relpath(path, ROOT_DIR)}:{line}: {module} ({source}) imports "
                             f"{target} ({layer_of(target)})")
    return found


def test_imports_run_one_way():
    found = violations()
    assert not found, "imports against the layer rule:\n" + "\n".join(found)


@pytest.mark.parametrize("module, target, ok", [
    ("util.image_io", "datasets.transforms", False),   # the core imports nothing above it
    ("util.eval.fid", "util.train.meters", False),     # sub-packages do not import each other
    ("util.eval.evaluator", "util.translate.inference", False),
    ("util.eval.evaluator", "util.image_io", True),
    ("models.base_model", "util.train.fast_paths", False),
    ("models.loading", "util.checkpoint", True),
    ("export", "test", False),                          # scripts do not import each other
    ("train", "util.train.guards", True),
])
def test_layer_rule_examples(module, target, ok):
    source, destination = layer_of(module), layer_of(target)
    verdict = allowed(source, destination) and not (source == destination == "scripts" and module != target)
    assert verdict == ok


def test_scripts_do_not_import_each_other():
    found = [f"{script}.py:{line} imports {target}" for script, path in product_modules() if script in SCRIPTS
             for line, target in imported_modules(script, path) if target in SCRIPTS and target != script]
    assert not found, "\n".join(found)
