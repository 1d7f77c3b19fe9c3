"""The replication is an application of the package: it imports only the package's public
API (the modules below, names without a leading underscore) and runs its commands
(solver_driver.py, python -m inq_layer.tools.prune) as a user would; never tools/ or other
internals."""
import ast
import os

APP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The library as the README's Layout documents it for use from Python.
PUBLIC = {"inq_layer", "inq_layer.atomic", "inq_layer.errors", "inq_layer.options", "inq_layer.caffe_edge.caffe_io",
          "inq_layer.deploy.export", "inq_layer.campaign.report_schema", "inq_layer.campaign.state"}


def package_imports(path: str) -> list[tuple[str, str]]:
    """(module, name) of every import from inq_layer in a file, lazy ones included."""
    out = []
    for node in ast.walk(ast.parse(open(path).read(), path)):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "inq_layer":
            out += [(node.module, a.name) for a in node.names]
        elif isinstance(node, ast.Import):
            out += [(a.name, "") for a in node.names if a.name.split(".")[0] == "inq_layer"]
    return out


def app_files() -> list[str]:
    return [os.path.join(d, f) for d, _, fs in os.walk(APP) for f in fs if f.endswith(".py") and "tests" not in d]


def test_the_replication_uses_only_the_public_api():
    bad = [(os.path.relpath(p, APP), m, n) for p in app_files() for m, n in package_imports(p)
           if m not in PUBLIC or n.startswith("_")]
    assert bad == []


def test_the_rule_sees_an_internal(tmp_path):
    f = tmp_path / "x.py"
    f.write_text("def f():\n    from inq_layer.tools.command import cli_main\n    "
                 "from inq_layer.campaign.state import _STATE_RE\n")
    assert package_imports(str(f)) == [("inq_layer.tools.command", "cli_main"),
                                       ("inq_layer.campaign.state", "_STATE_RE")]
