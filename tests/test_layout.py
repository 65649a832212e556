"""The layout the architecture promises: no import cycles, `scaling` free of `train` and `zoo`, `zoo` free of `train`,
every import through `scalezoo.*`, and every package folder shipped by pyproject.toml."""

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {
  "zoo": "scalezoo.zoo",
  "train": "scalezoo.train",
  "scaling": "scalezoo.scaling",
  "configs": "scalezoo.configs",
}


def modules() -> dict[str, Path]:
  """Dotted module name -> file, for every .py of the package folders."""
  out = {}
  for folder, name in FOLDERS.items():
    for f in sorted((ROOT / folder).rglob("*.py")):
      parts = [name, *f.relative_to(ROOT / folder).with_suffix("").parts]
      out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f
  return out


def imports(f: Path) -> list[tuple[str, list[str], int]]:
  """(module, imported names, line) for every import in the file, function-level ones included."""
  found = []
  for node in ast.walk(ast.parse(f.read_text())):
    if isinstance(node, ast.Import):
      found += [(a.name, [], node.lineno) for a in node.names]
    elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
      found.append((node.module, [a.name for a in node.names], node.lineno))
  return found


def graph() -> dict[str, set[str]]:
  """module -> the scalezoo modules it imports (a name from a package's __init__ counts as that package)."""
  mods = modules()
  g = {m: set() for m in mods}
  for m, f in mods.items():
    for target, names, _ in imports(f):
      if not target.startswith("scalezoo"):
        continue
      subs = [f"{target}.{n}" for n in names if f"{target}.{n}" in mods]
      g[m] |= set(subs) if subs and len(subs) == len(names) else {t for t in (target, *subs) if t in mods}
  return g


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
  """Strongly connected components with more than one module (Tarjan), or a module importing itself."""
  index, low, stack, on, out, n = {}, {}, [], set(), [], [0]

  def visit(v):
    index[v] = low[v] = n[0]
    n[0] += 1
    stack.append(v)
    on.add(v)
    for w in g[v]:
      if w not in index:
        visit(w)
        low[v] = min(low[v], low[w])
      elif w in on:
        low[v] = min(low[v], index[w])
    if low[v] == index[v]:
      comp = []
      while True:
        w = stack.pop()
        on.discard(w)
        comp.append(w)
        if w == v:
          break
      if len(comp) > 1 or v in g[v]:
        out.append(sorted(comp))

  for v in g:
    if v not in index:
      visit(v)
  return out


def test_no_import_cycles():
  assert cycles(graph()) == []


def test_cycle_finder_finds_a_cycle():
  assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_scaling_imports_neither_train_nor_zoo_and_zoo_not_train():
  for m, deps in graph().items():
    if m.startswith("scalezoo.scaling"):
      assert not [d for d in deps if d.startswith(("scalezoo.train", "scalezoo.zoo"))], m
    if m.startswith("scalezoo.zoo"):
      assert not [d for d in deps if d.startswith(("scalezoo.train", "scalezoo.scaling"))], m


def test_every_import_goes_through_the_scalezoo_package():
  """A bare `import train` would find a researcher's own train.py first."""
  files = [*modules().values(), *ROOT.glob("tests/*.py")]
  bare = [
    f"{f.relative_to(ROOT)}:{line} {target}"
    for f in files
    for target, _, line in imports(f)
    if target.split(".")[0] in FOLDERS
  ]
  assert bare == []


def test_pyproject_ships_every_package_folder():
  tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
  packages = set(tool["packages"])
  want = {m for m, f in modules().items() if f.name == "__init__.py"}
  assert packages == want
  assert {tool["package-dir"][v] for v in FOLDERS.values()} == set(FOLDERS)
