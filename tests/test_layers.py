"""The package's structure: imports go down the layers declared in docs/architecture.md; ruff is clean."""

import ast
import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "interplay_verl")


def declared_layers() -> dict[str, int]:
    """Module prefix -> layer number, from the ```layers block of docs/architecture.md."""
    text = open(os.path.join(ROOT, "docs", "architecture.md")).read()
    block = re.search(r"```layers\n(.*?)```", text, re.S)
    assert block, "docs/architecture.md has no ```layers block"
    layers = {}
    for line in block.group(1).strip().splitlines():
        number, _, modules = line.partition(":")
        for prefix in modules.split():
            layers[prefix] = int(number.split()[0])
    return layers


def modules() -> dict[str, str]:
    """Dotted module name (without the package) -> file path, for every module of the package."""
    out = {}
    for folder, _, files in os.walk(PACKAGE):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                dotted = os.path.relpath(path, PACKAGE)[:-3].replace(os.sep, ".")
                dotted = dotted[: -len(".__init__")] if dotted.endswith(".__init__") else dotted
                if dotted != "__init__":
                    out[dotted] = path
    return out


def imports(path: str, known: dict[str, str]) -> set[str]:
    """Package modules imported anywhere in the file (inside functions too)."""
    found = set()
    for node in ast.walk(ast.parse(open(path).read())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("interplay_verl"):
            base = node.module[len("interplay_verl"):].lstrip(".")
            names = [f"{base}.{a.name}".lstrip(".") if f"{base}.{a.name}".lstrip(".") in known else base
                     for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name[len("interplay_verl"):].lstrip(".") for a in node.names if a.name.startswith("interplay_verl")]
        found.update(n for n in names if n)
    return found


def layer_of(module: str, layers: dict[str, int]) -> int:
    matches = [p for p in layers if module == p or module.startswith(p + ".")]
    if not matches:
        raise AssertionError(f"interplay_verl.{module} is in no layer of docs/architecture.md: place it there")
    return layers[max(matches, key=len)]


def violations(layers: dict[str, int], known: dict[str, str]) -> list[str]:
    out = []
    for module, path in sorted(known.items()):
        here = layer_of(module, layers)
        for target in sorted(imports(path, known)):
            if target in known and layer_of(target, layers) > here and not target.startswith(module + "."):
                out.append(f"{module} (layer {here}) imports {target} (layer {layer_of(target, layers)})")
    return out


def test_imports_only_go_down_the_layers():
    layers, known = declared_layers(), modules()
    assert len(known) > 40 and "pipeline.stages" in known
    assert violations(layers, known) == []


def test_the_layer_check_catches_an_upward_import(tmp_path):
    """Negative control: the same walk over a copy of the package with one import going up fails."""
    copy = tmp_path / "interplay_verl"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    target = copy / "metrics.py"
    target.write_text(target.read_text() + "\n\ndef _up():\n    from interplay_verl.evaluation import summarize\n")
    known = {name: path.replace(PACKAGE, str(copy), 1) for name, path in modules().items()}
    assert violations(declared_layers(), known) == ["metrics (layer 0) imports evaluation (layer 7)"]


def test_every_module_is_placed_in_a_layer():
    layers = declared_layers()
    for module in modules():
        layer_of(module, layers)


def test_ruff_is_clean():
    ruff = shutil.which("ruff", path=os.path.dirname(sys.executable))
    assert ruff, "ruff is not installed: pip install -e '.[test]' installs it"
    result = subprocess.run([ruff, "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:]
