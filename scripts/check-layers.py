#!/usr/bin/env python3
"""Checks that dependencies between the tracker's modules point one way (src/lib.rs "Layout").

Reads every `crate::…` and `super::…` path in src/ (the library; not src/bin, not test modules),
resolves it to the file module it names, and fails if
  - a top-level module uses one of a higher or equal layer (LAYERS below), or
  - the file modules form a cycle, or
  - src/kafka mentions actix.
A path naming an item re-exported by a mod.rs (`pub use sub::Item`) counts as a use of `sub`.

Usage: scripts/check-layers.py [--print]   (--print lists every edge)
"""

import re
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"

# Lower layers first; a module may use only modules of a lower layer (and itself).
LAYERS = [
    {"domain", "allocator"},
    {"config", "telemetry", "health"},
    {"kafka"},
    {"pipeline", "faults"},
    {"http", "api"},
    {"app"},
    {"cli"},
]
LAYER_OF = {name: rank for rank, names in enumerate(LAYERS) for name in names}

PATH = re.compile(r"\b(crate|super)((?:::[A-Za-z_][A-Za-z0-9_]*)+)")
USE = re.compile(r"\buse\s+((?:crate|super)::[^;]*);", re.S)


def module_files():
    """Module path (tuple) -> file, for the library's non-test modules."""
    modules = {}
    for path in SRC.rglob("*.rs"):
        rel = path.relative_to(SRC)
        if rel.parts[0] == "bin" or rel.name in ("main.rs",):
            continue
        if rel.stem.endswith(("_tests", "_properties")) or rel.stem == "tests":
            continue
        parts = list(rel.with_suffix("").parts)
        if parts == ["lib"]:
            parts = []
        elif parts[-1] == "mod":
            parts = parts[:-1]
        modules[tuple(parts)] = path
    return modules


def without_tests(text):
    """The file's code before its `#[cfg(test)]` module (tests may use anything), without
    comments (a doc link is no dependency)."""
    match = re.search(r"#\[cfg\(test\)\]\s*mod\s+\w+\s*\{", text)
    code = text[: match.start()] if match else text
    return re.sub(r"//[^\n]*", "", code)


def expand(tree):
    """`a::{b, c::{d, e}}` -> ['a::b', 'a::c::d', 'a::c::e']."""
    tree = re.sub(r"\s+", "", tree)
    brace = tree.find("{")
    if brace < 0:
        return [tree]
    prefix, inner = tree[:brace], tree[brace + 1 : tree.rfind("}")]
    items, depth, start = [], 0, 0
    for i, ch in enumerate(inner):
        depth += ch == "{"
        depth -= ch == "}"
        if ch == "," and depth == 0:
            items.append(inner[start:i])
            start = i + 1
    items.append(inner[start:])
    return [path for item in items if item for path in expand(prefix + item)]


def absolute(module, path):
    parts = path.split("::")
    if parts[0] == "crate":
        base, rest = [], parts[1:]
    else:
        base = list(module)
        while parts and parts[0] == "super":
            base = base[:-1]
            parts = parts[1:]
        rest = parts
    return base + [p for p in rest if p not in ("self", "*")]


def re_exports(modules):
    """(module, item) -> submodule it is re-exported from, from `pub use sub::…` in mod files."""
    found = {}
    for module, file in modules.items():
        for tree in re.findall(r"\bpub\s+use\s+([^;]*);", without_tests(file.read_text())):
            for path in expand(tree):
                parts = absolute(module, path) if path.startswith(("crate", "super")) else list(module) + path.split("::")
                found[(module, parts[-1])] = resolve(modules, parts[:-1], {})
    return found


def resolve(modules, parts, exports):
    """The longest module prefix of `parts`, following re-exports of the item after it."""
    for end in range(len(parts), -1, -1):
        candidate = tuple(parts[:end])
        if candidate in modules:
            if end < len(parts) and (candidate, parts[end]) in exports:
                return exports[(candidate, parts[end])]
            return candidate
    return ()


def edges(modules):
    exports = re_exports(modules)
    graph = {module: set() for module in modules}
    for module, file in modules.items():
        text = without_tests(file.read_text())
        paths = [p for tree in USE.findall(text) for p in expand(tree)]
        text_outside_uses = USE.sub("", text)
        paths += [m.group(1) + m.group(2) for m in PATH.finditer(text_outside_uses)]
        for path in paths:
            target = resolve(modules, absolute(module, path), exports)
            if target and target != module and target[: len(module)] != module:
                graph[module].add(target)
    return graph


def find_cycle(graph):
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def main():
    modules = module_files()
    graph = edges(modules)
    name = lambda m: "crate::" + "::".join(m) if m else "crate"
    if "--print" in sys.argv:
        for module in sorted(graph):
            for target in sorted(graph[module]):
                print(f"{name(module)} -> {name(target)}")
    problems = []
    for module, targets in graph.items():
        for target in targets:
            if not module or not target or module[0] == target[0]:
                continue
            if module[0] not in LAYER_OF or target[0] not in LAYER_OF:
                problems.append(f"{module[0]} or {target[0]} has no layer in scripts/check-layers.py")
            elif LAYER_OF[target[0]] >= LAYER_OF[module[0]]:
                problems.append(f"{name(module)} uses {name(target)}: a layer may only use lower layers")
    if cycle := find_cycle(graph):
        problems.append("import cycle: " + " -> ".join(name(m) for m in cycle))
    for file in sorted((SRC / "kafka").rglob("*.rs")):
        if re.search(r"\bactix", file.read_text()):
            problems.append(f"{file.relative_to(SRC.parent)} mentions actix: the Kafka layer has no actors")
    for problem in sorted(set(problems)):
        print("check-layers:", problem)
    edge_count = sum(len(t) for t in graph.values())
    if problems:
        sys.exit(1)
    print(f"check-layers: {len(modules)} modules, {edge_count} dependencies, no cycle, layers respected")


if __name__ == "__main__":
    main()
