#!/usr/bin/env python3
"""The module graph: A -> B when A's object file uses a symbol that B's
defines (from `nm`, so it is what the linker sees, calls and data alike).
Prints one line per module and exits 1 when the graph has a cycle, naming it.

Usage: t/modgraph.py FILE.o...   (`make graph` passes every object)
"""
import collections
import subprocess
import sys


def symbols(path):
    """(defined, used) symbol names of one object file."""
    defined, used = set(), set()
    for line in subprocess.run(["nm", path], check=True, capture_output=True,
                               text=True).stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "TDBRCG":
            defined.add(parts[2])
        elif len(parts) == 2 and parts[0] == "U":
            used.add(parts[1])
    return defined, used


def graph(paths):
    owner, uses = {}, {}
    for path in paths:
        module = path.rsplit("/", 1)[-1][:-2]
        defined, used = symbols(path)
        for name in defined:
            owner[name] = module
        uses[module] = used
    edges = collections.OrderedDict()
    for module in sorted(uses):
        edges[module] = sorted({owner[s] for s in uses[module] if s in owner} - {module})
    return edges


def find_cycle(edges):
    """A list of modules forming a cycle, or None (depth-first search)."""
    state, stack = {}, []

    def visit(module):
        state[module] = "open"
        stack.append(module)
        for nxt in edges.get(module, []):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[module] = "done"
        return None

    for module in edges:
        if module not in state:
            found = visit(module)
            if found:
                return found
    return None


def main():
    edges = graph(sys.argv[1:])
    for module, targets in edges.items():
        print("%-14s -> %s" % (module, " ".join(targets) or "-"))
    callers = {t for targets in edges.values() for t in targets}
    roots = [m for m in edges if m not in callers]
    print("called by nobody: %s" % " ".join(roots))
    cycle = find_cycle(edges)
    if cycle:
        print("cycle: %s" % " -> ".join(cycle))
        return 1
    print("no cycle")
    return 0


if __name__ == "__main__":
    sys.exit(main())
