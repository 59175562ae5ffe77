"""Lower layers never import upper ones (``web`` and ``cli`` on top, ``contract``
at the bottom)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "kequn"
#: each package's tier; a module may import its own package or a lower tier
TIERS = {
    "core": 0,
    "warehouse": 1,
    "contract": 1,
    "ingest": 2,
    "playbook": 2,
    "synth": 3,
    "rules": 3,
    "adapters": 3,
    "pipeline": 4,
    "store": 5,
    "privacy": 6,
    "learn": 6,
    "decide": 7,
    "campaign": 8,
    "release": 8,
    "web": 9,
    "cli": 10,
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("kequn."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("kequn.")}
    return found


def test_every_package_has_a_tier() -> None:
    packages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages <= set(TIERS), packages - set(TIERS)


def test_no_module_imports_a_higher_or_sibling_layer() -> None:
    wrong = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE)
        if len(rel.parts) < 2:
            continue
        own = rel.parts[0]
        for target in _imports(path):
            if target != own and TIERS[target] >= TIERS[own]:
                wrong.append(f"{rel} imports kequn.{target}")
    assert not wrong, "\n".join(wrong)
