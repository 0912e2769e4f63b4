"""docs/architecture.md is true: its layer order holds over the package's imports (every module imports
only from its own layer or those below, every module has a layer, every path it names exists), and
its config table names every config group and option."""
import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARCHITECTURE = ROOT / "docs" / "architecture.md"


def layers() -> list[list[str]]:
    """The path patterns of each layer, top first: the code block after '## Layers', one layer per
    unindented line, its paths before the description (comma-separated, relative to the first)."""
    text = ARCHITECTURE.read_text()
    block = text[text.index("## Layers"):].split("```")[1]
    out = []
    for line in block.strip("\n").splitlines():
        if not line or line[0].isspace():
            continue
        first, *rest = re.split(r"\s{3,}", line, maxsplit=1)[0].split(", ")
        base = first.rsplit("/", 1)[0] + "/" if "/" in first else ""
        out.append([first, *(p if "/" in p else base + p for p in rest)])
    return out


def modules() -> list[Path]:
    return [ROOT / "train.py", ROOT / "eval.py", *sorted((ROOT / "attractor").rglob("*.py"))]


def layer_of(path: Path, order: list[list[str]]) -> int:
    """The first (highest) layer with a pattern matching ``path``: a folder (``attractor/tasks/``)
    holds everything under it, ``**`` stands for any folders."""
    rel = path.relative_to(ROOT).as_posix()
    for i, patterns in enumerate(order):
        if any(rel.startswith(p) if p.endswith("/") else _match(rel, p) for p in patterns):
            return i
    raise AssertionError(f"{rel} is in no layer of docs/architecture.md")


def _match(rel: str, pattern: str) -> bool:
    regex = re.escape(pattern).replace(r"\*\*/", "(?:.*/)?").replace(r"\*", "[^/]*")
    return re.fullmatch(regex, rel) is not None


def module_file(name: str) -> Path:
    """The file of the dotted module ``name`` (a package: its __init__.py)."""
    base = ROOT.joinpath(*name.split("."))
    return base / "__init__.py" if base.is_dir() else base.with_suffix(".py")


def imports(path: Path) -> set[str]:
    """Every ``attractor`` module ``path`` imports, at the top or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            # `from attractor.decoding import arithmetic`: a submodule, when there is one
            found |= {f"{node.module}.{a.name}" for a in node.names if module_file(f"{node.module}.{a.name}").is_file()}
    return {name for name in found if name.split(".")[0] == "attractor"}


def test_every_path_the_page_names_exists():
    for patterns in layers():
        for p in patterns:
            assert "*" in p or (ROOT / p).exists(), f"docs/architecture.md names {p}, which does not exist"


def test_no_module_imports_from_a_layer_above_its_own():
    order = layers()
    upward = []
    for path in modules():
        mine = layer_of(path, order)
        for name in sorted(imports(path)):
            theirs = layer_of(module_file(name), order)
            if theirs < mine:
                upward.append(f"{path.relative_to(ROOT)} (layer {mine}: {order[mine][0]}) imports {name} "
                              f"(layer {theirs}: {order[theirs][0]})")
    assert not upward, "\n".join(upward)


def test_the_check_places_modules_and_reads_imports_inside_functions(tmp_path):
    order = layers()
    data, models = layer_of(ROOT / "attractor" / "data" / "cli.py", order), layer_of(ROOT / "attractor" / "models" / "base.py", order)
    assert data > models  # data sits below models: models importing data is fine, data importing models is not
    assert layer_of(ROOT / "attractor" / "decoding" / "__main__.py", order) == 0  # an entry point
    probe = tmp_path / "probe.py"
    probe.write_text("import torch\n\ndef f():\n    from attractor.models import build_model\n    import attractor.io\n")
    assert imports(probe) == {"attractor.models", "attractor.io"}


def test_the_config_table_names_every_group_and_option():
    text = ARCHITECTURE.read_text()
    table = text[text.index("## Configs mirror the code"):].split("\n\n")[1]
    rows = {line.split("|")[1].strip(" `"): line for line in table.splitlines()[2:]}
    configs = ROOT / "configs"
    groups = {p.parent.relative_to(configs).as_posix() + "/" for p in configs.rglob("*.yaml") if p.parent != configs}
    assert groups <= set(rows), f"groups missing from the table: {sorted(groups - set(rows))}"
    for group in groups:
        missing = [p.stem for p in (configs / group).glob("*.yaml") if not re.search(rf"\b{p.stem}\b", rows[group])]
        assert not missing, f"the {group} row does not name {missing}"
