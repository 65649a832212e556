"""The layers the architecture promises (docs/ARCHITECTURE.md draws this graph from the same code): each package imports
only the layers below it, no import cycles between modules or packages, no private name used across modules, every
import through `scalezoo.*`, and every package folder shipped by pyproject.toml.

`python -m tests.test_layout --write` (from the checkout's root) regenerates docs/ARCHITECTURE.md's section between
the BEGIN and END markers: the package graph and a table of every module; a test fails while the two differ."""

import ast
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {
  "zoo": "scalezoo.zoo",
  "data": "scalezoo.data",
  "scaling": "scalezoo.scaling",
  "train": "scalezoo.train",
  "sweep": "scalezoo.sweep",
  "cli": "scalezoo.cli",
  "bench": "scalezoo.bench",
  "studies": "scalezoo.studies",
  "configs": "scalezoo.configs",
}
# package -> the packages it may import: the layers, bottom to top
ALLOWED = {
  "configs": set(),
  "zoo": set(),
  "data": set(),
  "scaling": set(),
  "train": {"zoo", "data"},
  "sweep": {"train", "zoo", "data", "scaling", "configs"},
  "bench": {"sweep", "train", "zoo", "data", "scaling", "configs"},
  "studies": {"sweep", "train", "zoo", "data", "scaling", "configs"},
  "cli": {"bench", "studies", "sweep", "train", "zoo", "data", "scaling", "configs"},
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


def package(module: str) -> str:
  return module.split(".")[1]


def package_graph(g: dict[str, set[str]]) -> dict[str, set[str]]:
  """package -> the other packages its modules import."""
  out = {package(m): set() for m in g}
  for m, deps in g.items():
    out[package(m)] |= {package(d) for d in deps} - {package(m)}
  return out


def private_uses(f: Path) -> list[str]:
  """`from scalezoo.x import _name` and `mod._name` on an imported scalezoo module: a private name used outside its
  module."""
  tree, mods, out = ast.parse(f.read_text()), set(), []
  for node in ast.walk(tree):
    if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("scalezoo"):
      out += [f"{node.module}.{a.name}" for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
      mods |= {a.asname or a.name for a in node.names}
    elif isinstance(node, ast.Import):
      mods |= {a.asname or a.name.split(".")[0] for a in node.names if a.name.startswith("scalezoo")}
  for node in ast.walk(tree):
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in mods:
      if node.attr.startswith("_") and not node.attr.startswith("__"):
        out.append(f"{node.value.id}.{node.attr}")
  return [f"{f.relative_to(ROOT) if f.is_relative_to(ROOT) else f.name}: {u}" for u in out]


def test_no_import_cycles():
  assert cycles(graph()) == []


def test_no_package_cycles():
  assert cycles(package_graph(graph())) == []


def test_cycle_finder_finds_a_cycle():
  assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_each_package_imports_only_the_layers_below_it():
  assert set(ALLOWED) == set(FOLDERS)
  upward = {p: sorted(deps - ALLOWED[p]) for p, deps in package_graph(graph()).items() if deps - ALLOWED[p]}
  assert upward == {}


def test_the_layer_check_finds_an_upward_import():
  g = {"scalezoo.train.loop": {"scalezoo.sweep.driver"}, "scalezoo.sweep.driver": set()}
  assert package_graph(g) == {"train": {"sweep"}, "sweep": set()}


def test_no_private_name_is_used_across_modules():
  assert [u for f in modules().values() for u in private_uses(f)] == []


def test_the_private_check_finds_one(tmp_path):
  f = tmp_path / "probe.py"
  f.write_text("from scalezoo.zoo import registry\nfrom scalezoo.train.step import _x\nregistry._size(1)\n")
  assert [u.split(": ")[1] for u in private_uses(f)] == ["scalezoo.train.step._x", "registry._size"]


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


# ---- docs/ARCHITECTURE.md's generated section ---------------------------------------------------------------------

DOC = ROOT / "docs" / "ARCHITECTURE.md"
BEGIN = "<!-- BEGIN generated by `python -m tests.test_layout --write`: edit the code, not this section -->"
END = "<!-- END generated -->"


def layers() -> list[str]:
  """The packages top to bottom: more packages allowed below first, then by name."""
  return sorted(ALLOWED, key=lambda p: (-len(ALLOWED[p]), p))


def summary(f: Path) -> str:
  """The module docstring's first sentence (a period, then a capital or the paragraph's end), for a table cell."""
  doc = ast.get_docstring(ast.parse(f.read_text())) or ""
  para = " ".join(doc.split("\n\n")[0].split())
  first = re.split(r"(?<=\.)\s+(?=[A-Z`])", para)[0]
  return first.replace("|", "\\|")


def lines_of(f: Path) -> int:
  return len(f.read_text().splitlines())


def architecture() -> str:
  """The generated section: the package import graph and, per package, its modules with line counts and docstrings."""
  mods, g = modules(), graph()
  pg, order = package_graph(g), layers()
  width = max(map(len, order))
  out = [
    BEGIN,
    "",
    "## The packages, as the code has them",
    "",
    "The import graph between the packages, read from every module's imports by tests/test_layout.py (which also",
    "fails on an import outside `ALLOWED`, on an import cycle between modules or between packages, and on a private",
    "name used across modules). An arrow: some module of the package imports from each package listed.",
    "",
    "```",
  ]
  for p in order:
    deps = [d for d in order if d in pg.get(p, set())]
    out.append(f"{p:<{width}} ─▶ {', '.join(deps) if deps else 'nothing of the kit'}")
  out += ["```", "", "| package | modules | lines |", "|---|---:|---:|"]
  by_pkg = {p: [(m, f) for m, f in mods.items() if package(m) == p] for p in order}
  for p in order:
    out.append(f"| `{p}/` | {len(by_pkg[p])} | {sum(lines_of(f) for _, f in by_pkg[p]):,} |")
  out.append(f"| all | {len(mods)} | {sum(lines_of(f) for f in mods.values()):,} |")
  for p in order:
    out += ["", f"### `{p}/`", "", "| module | lines | what it is |", "|---|---:|---|"]
    for _, f in sorted(by_pkg[p], key=lambda mf: mf[1].relative_to(ROOT).as_posix()):
      out.append(f"| `{f.relative_to(ROOT).as_posix()}` | {lines_of(f)} | {summary(f)} |")
  return "\n".join([*out, "", END])


def documented() -> str:
  """The generated section as docs/ARCHITECTURE.md holds it."""
  text = DOC.read_text()
  assert text.count(BEGIN) == 1 and text.count(END) == 1, f"{DOC}: one {BEGIN!r} and one {END!r}"
  return text[text.index(BEGIN) : text.index(END) + len(END)]


def write() -> None:
  DOC.write_text(DOC.read_text().replace(documented(), architecture()))


def test_architecture_md_is_what_the_code_draws():
  assert documented() == architecture(), "docs/ARCHITECTURE.md is stale: python -m tests.test_layout --write"


def test_the_summary_is_the_first_sentence(tmp_path):
  f = tmp_path / "m.py"
  f.write_text('"""Allocation, Hoffmann et al. 2022, three ways. More |here|.\n\nLater."""\n')
  assert summary(f) == "Allocation, Hoffmann et al. 2022, three ways."
  f.write_text('"""A |x| that goes\non. Next."""\n')
  assert summary(f) == r"A \|x\| that goes on."


if __name__ == "__main__":
  if sys.argv[1:] != ["--write"]:
    sys.exit("usage: python -m tests.test_layout --write  (rewrites docs/ARCHITECTURE.md's generated section)")
  write()
