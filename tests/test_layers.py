"""The import layers of ``src/shuyu/__init__.py``, checked by walking every module's AST.

Lowest first; a module may import its own component and the components listed for it:

1. ``errors``, ``config`` (config may import errors) — nothing else from Shuyu.
2. ``pki`` — errors, config.
3. ``mpc``, ``sql``, ``governance`` — siblings: layers 1-2 and themselves, never each other (a
   plan is plain data; only the engine puts a plan and MPC together). ``psi`` sits on ``mpc``
   (the delegated join produces secret shares), so it may import ``mpc`` but no other sibling,
   and ``mpc`` never imports ``psi``.
4. ``engine`` — layers 1-3.
5. ``node``, ``hub`` — layers 1-4; services never import each other.
6. ``web``, ``cli``, ``demo``, ``__main__`` — edges: anything.

Every top-level module or package must be assigned a layer here, so a new one cannot slip past.
Components that do not exist yet are simply not walked. Imports inside functions,
``TYPE_CHECKING`` blocks and ``importlib.import_module("shuyu...")`` calls all count.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "shuyu"

BOTTOM = {"errors", "config"}
SIBLINGS = {"mpc", "psi", "sql", "governance"}
SERVICES = {"node", "hub"}
EDGES = {"web", "cli", "cli_hub", "client", "demo", "demo_engine", "demo_data", "__main__"}
# The package's own __init__ imports nothing and may be imported by anyone (``__version__``).
ROOT = "__init__"

ALLOWED: dict[str, set[str]] = {
    ROOT: set(),
    "errors": set(),
    "config": {"errors"},
    "pki": {"errors", "config"},
    **{sibling: {"errors", "config", "pki"} for sibling in SIBLINGS},
    "psi": {"errors", "config", "pki", "mpc"},
    "engine": {"errors", "config", "pki", *SIBLINGS},
    **{service: {"errors", "config", "pki", *SIBLINGS, "engine"} for service in SERVICES},
}
EVERYTHING = {ROOT, *ALLOWED, *EDGES}


def component_of(module: str) -> str:
    """``shuyu.mpc.transport.tls`` -> ``mpc``; ``shuyu`` -> ``__init__``."""
    parts = module.split(".")
    assert parts[0] == "shuyu", module
    return parts[1] if len(parts) > 1 else ROOT


def module_name(path: Path, root: Path) -> str:
    relative = path.relative_to(root.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def shuyu_imports(path: Path, root: Path) -> list[tuple[int, str]]:
    """Every Shuyu module ``path`` imports, as (line, dotted name)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    this = module_name(path, root)
    package = this if path.name == "__init__.py" else this.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            # `from shuyu import mpc` imports a submodule; `from shuyu import __version__`
            # imports from the package itself: both are recorded as base.name, and
            # component_of() maps the second to the package's __init__.
            if base == "shuyu":
                for alias in node.names:
                    name = alias.name
                    found.append((node.lineno, f"shuyu.{name}" if name in EVERYTHING else "shuyu"))
            else:
                found.append((node.lineno, base))
        elif (
            isinstance(node, ast.Call)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and (
                (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
                or (
                    isinstance(node.func, ast.Name)
                    and node.func.id in {"import_module", "__import__"}
                )
            )
        ):
            found.append((node.lineno, node.args[0].value))
    return [(line, name) for line, name in found if name == "shuyu" or name.startswith("shuyu.")]


def check_layers(root: Path) -> list[str]:
    """Every layer violation under the package directory ``root``, as readable lines."""
    problems = []
    for path in sorted(root.rglob("*.py")):
        this = component_of(module_name(path, root))
        where = path.relative_to(root.parent)
        if this not in EVERYTHING:
            problems.append(
                f"{where}: component {this!r} has no layer; add it to tests/test_layers.py "
                "and to the list in src/shuyu/__init__.py"
            )
            continue
        if this in EDGES:
            continue
        allowed = ALLOWED[this] | {this, ROOT}
        if this == ROOT:
            allowed = {ROOT}
        for line, imported in shuyu_imports(path, root):
            target = component_of(imported)
            if target not in allowed:
                problems.append(f"{where}:{line}: {this} may not import {imported}")
    return problems


def test_package_respects_the_layers():
    assert check_layers(SRC) == []


def test_the_walker_finds_real_imports():
    # Self-check: without it a walker that found nothing would pass vacuously.
    config_imports = {name for _, name in shuyu_imports(SRC / "config.py", SRC)}
    assert "shuyu.errors" in config_imports
    pki_imports = {name for _, name in shuyu_imports(SRC / "pki.py", SRC)}
    assert pki_imports == {"shuyu.errors"}
    cli_imports = {component_of(name) for _, name in shuyu_imports(SRC / "cli.py", SRC)}
    assert {"pki", "config", "errors", "demo"} <= cli_imports  # demo via import_module


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "shuyu"
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"errors.py": "from shuyu import config\n"}, "errors may not import shuyu.config"),
        ({"config.py": "import shuyu.pki\n"}, "config may not import shuyu.pki"),
        ({"pki.py": "from shuyu.mpc import ring\n"}, "pki may not import shuyu.mpc"),
        ({"mpc/plan.py": "from shuyu.sql import plan\n"}, "mpc may not import shuyu.sql"),
        ({"sql/x.py": "def f():\n    import shuyu.mpc.ring\n"}, "sql may not import shuyu.mpc"),
        ({"psi/x.py": "from ..governance import ledger\n"}, "psi may not import shuyu.governance"),
        (
            {
                "governance/x.py": "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    from shuyu.engine import run\n"
            },
            "governance may not import shuyu.engine",
        ),
        ({"engine/x.py": "from shuyu.node import worker\n"}, "engine may not import shuyu.node"),
        ({"node/x.py": "from shuyu import hub\n"}, "node may not import shuyu.hub"),
        (
            {"hub/x.py": "import importlib\nimportlib.import_module('shuyu.web')\n"},
            "hub may not import shuyu.web",
        ),
        ({"__init__.py": "from shuyu import errors\n"}, "__init__ may not import shuyu.errors"),
        ({"stray.py": "x = 1\n"}, "component 'stray' has no layer"),
    ],
)
def test_violations_are_detected(tmp_path, files, expected):
    problems = check_layers(_tree(tmp_path, files))
    assert any(expected in problem for problem in problems), problems


def test_allowed_imports_pass(tmp_path):
    root = _tree(
        tmp_path,
        {
            "__init__.py": "__version__ = '0'\n",
            "errors.py": "import os\n",
            "config.py": "from shuyu.errors import ConfigError\n",
            "pki.py": "from shuyu import errors\nfrom shuyu.config import Settings\n",
            "mpc/__init__.py": "from . import ring\nfrom .ring import x\n",
            "mpc/ring.py": "from shuyu.pki import peer_name\nfrom shuyu import __version__\n",
            "mpc/transport/tls.py": "from ..ring import x\nfrom shuyu.mpc.transport import base\n",
            "sql/plan.py": "from shuyu.errors import InvalidInput\n",
            "engine/run.py": "from shuyu.mpc import ring\nfrom shuyu.sql import plan\n",
            "node/app.py": "from shuyu.engine import run\n",
            "cli.py": "from shuyu.node import app\nfrom shuyu.hub import api\n",
            "demo.py": "from shuyu import mpc, sql, engine\n",
        },
    )
    assert check_layers(root) == []
