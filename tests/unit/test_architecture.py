"""The package's folders are its layers: the numeric core imports nothing above it, and no
library module imports the commands. Read from the source, lazy imports included."""
from __future__ import annotations

import ast
import os

PKG = os.path.join(os.path.dirname(__file__), "..", "..", "python", "inq_layer")


def modules() -> dict[str, str]:
    """Dotted name under inq_layer -> path, for every module of the package."""
    out = {}
    for folder, _, files in os.walk(PKG):
        for f in files:
            if f.endswith(".py"):
                rel = os.path.relpath(os.path.join(folder, f), PKG)[:-3].replace(os.sep, ".")
                out[rel.removesuffix(".__init__").removesuffix("__init__")] = os.path.join(folder, f)
    return out


def imported(name: str, path: str) -> set[str]:
    """What a module imports from inside the package, as dotted names under inq_layer."""
    tree = ast.parse(open(path).read(), path)
    package = name.split(".")[:-1] if not path.endswith("__init__.py") else name.split(".") if name else []
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            elif node.module and (node.module == "inq_layer" or node.module.startswith("inq_layer.")):
                target = node.module[len("inq_layer."):] if node.module != "inq_layer" else ""
            else:
                continue
            found.update(f"{target}.{a.name}".strip(".") if not node.module or node.level and not node.module
                         else target for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name[len("inq_layer."):] for a in node.names if a.name.startswith("inq_layer."))
    return found


def tier(name: str) -> str:
    return name.split(".")[0] if "." in name else name


def test_the_core_imports_nothing_above_it():
    mods = modules()
    bad = {n: sorted(t for t in imported(n, p) if tier(t) != "core")
           for n, p in mods.items() if tier(n) == "core"}
    assert {n: t for n, t in bad.items() if t} == {}


def test_no_library_module_imports_the_commands():
    mods = modules()
    bad = {n: sorted(t for t in imported(n, p) if tier(t) == "tools")
           for n, p in mods.items() if tier(n) != "tools"}
    assert {n: t for n, t in bad.items() if t} == {}


def test_the_rule_sees_relative_absolute_and_lazy_imports(tmp_path):
    src = tmp_path / "m.py"
    src.write_text("from ..tools.command import cli_main\nfrom . import passes\n"
                   "def f():\n    import inq_layer.tools.driver\n    from inq_layer.net import freezer\n")
    assert imported("core.m", str(src)) == {"tools.command", "core.passes", "tools.driver", "net"}


def test_at_most_five_modules_beside_the_subpackages():
    top = [f for f in os.listdir(PKG) if f.endswith(".py")]
    assert len(top) <= 5, top
