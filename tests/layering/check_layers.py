#!/usr/bin/env python3
"""Fails when the module layers stop depending only downward (docs/architecture.md).

Layers, lowest first: platform, config, then s3 and archive side by side (neither sees the
other), storage, then agent and receiver side by side.
Checked:
  * includes: a file may include headers of its own layer and lower ones only; agent/ and
    receiver/ never include each other; the receiver includes nothing of storage/;
  * linking: no granary_* library reaches a higher layer through its link dependencies
    (as CMake resolved them, written by tests/layering/CMakeLists.txt), and the
    granary-receiver link line in build.ninja holds no agent or storage library.

  check_layers.py SOURCE_DIR BUILD_DIR     the layering checks (the ctest "layering")
  check_layers.py --catalog-only-sql SOURCE_DIR
      no agent-side file outside storage/catalog* and storage/schema.cpp holds SQL on the
      buffer's segments, drops, counters, outbox or multipart tables (only the catalog may
      touch them)
"""
import os
import re
import sys

RANK = {"platform": 0, "config": 1, "s3": 2, "archive": 2, "storage": 3, "agent": 4,
        "receiver": 4}
# Same-rank modules that must not see each other, and what the receiver must never touch.
FORBIDDEN = {"agent": {"receiver"}, "receiver": {"agent", "storage"}, "s3": {"archive"},
             "archive": {"s3", "config"}}
# A folder that no longer exists must not come back through an include.
RETIRED = {"uploader"}
SOURCE_EXTENSIONS = (".h", ".hpp", ".cpp", ".cc", ".c")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"/]+)/[^"]*"', re.MULTILINE)


def module_files(source_dir, module):
    root = os.path.join(source_dir, module)
    for directory, _, names in os.walk(root):
        for name in sorted(names):
            if name.endswith(SOURCE_EXTENSIONS):
                yield os.path.join(directory, name)


def allowed(module, target):
    if target in FORBIDDEN.get(module, set()):
        return False
    return RANK[target] <= RANK[module]


def check_includes(source_dir):
    problems = []
    for module in RANK:
        for path in module_files(source_dir, module):
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read()
            for match in INCLUDE.finditer(text):
                target = match.group(1)
                line = text.count("\n", 0, match.start()) + 1
                where = f"{os.path.relpath(path, source_dir)}:{line}"
                if target in RETIRED:
                    problems.append(f"{where}: includes {target}/, a folder that is gone")
                elif target in RANK and not allowed(module, target):
                    include = match.group(0).strip()
                    problems.append(f"{where}: {module}/ includes {target}/: {include}")
    return problems


def module_of(source_dir, target_dir):
    rel = os.path.relpath(target_dir, source_dir).split(os.sep)[0]
    return rel if rel in RANK else None


def check_link_graph(source_dir, build_dir):
    listing = os.path.join(build_dir, "tests", "layering", "link_deps.txt")
    if not os.path.exists(listing):
        return [f"{listing} is missing: configure the build with GRANARY_TESTS=ON"]
    folder, deps = {}, {}
    with open(listing, encoding="utf-8") as f:
        for line in f:
            name, directory, items = (line.rstrip("\n").split("|") + ["", ""])[:3]
            if not name:
                continue
            folder[name] = module_of(source_dir, directory)
            deps[name] = [i for i in items.split(";") if i]
    problems = []
    for name, module in sorted(folder.items()):
        if module is None:
            continue
        seen, todo = set(), list(deps[name])
        while todo:
            dep = todo.pop()
            if dep in seen or dep not in folder:
                continue
            seen.add(dep)
            todo.extend(deps[dep])
            dep_module = folder[dep]
            if dep_module is not None and not allowed(module, dep_module):
                problems.append(f"target {name} ({module}/) links {dep} ({dep_module}/)")
    if not any(m == "receiver" for m in folder.values()):
        problems.append(f"{listing} names no receiver target; the check would prove nothing")
    return problems


def check_receiver_link_line(build_dir):
    ninja = os.path.join(build_dir, "build.ninja")
    if not os.path.exists(ninja):
        return [f"{ninja} is missing (the check reads the Ninja build)"]
    with open(ninja, encoding="utf-8") as f:
        lines = f.read().split("\n")
    libraries = None
    for i, line in enumerate(lines):
        if re.match(r"build \S*granary-receiver: CXX_EXECUTABLE_LINKER", line):
            statement = [line] + [l for l in lines[i + 1:i + 40] if l.startswith("  ")]
            libraries = re.findall(r"(\S+\.a)\b", " ".join(statement))
            break
    if libraries is None:
        return ["no link statement for granary-receiver in build.ninja"]
    bad = sorted({lib for lib in libraries
                  if re.search(r"libgranary_(agent\w*|storage)\.a$", lib)
                  or lib.split("/")[0] in ("agent", "storage")})
    return [f"granary-receiver links {lib}" for lib in bad]


CATALOG_SQL = re.compile(r"\b(FROM|INTO|UPDATE|JOIN|TABLE)\s+(segments|drops|counters|outbox|multipart_uploads|multipart_parts)\b",
                         re.IGNORECASE)


def code_of(line):
    """The line without a // comment (one outside a string literal), so prose such as "a
    table drops..." in a comment is not mistaken for SQL."""
    quoted = False
    for i, c in enumerate(line):
        if c == '"' and (i == 0 or line[i - 1] != "\\"):
            quoted = not quoted
        elif not quoted and line.startswith("//", i):
            return line[:i]
    return line


def catalog_owned(rel):
    name = os.path.basename(rel)
    return rel.startswith("storage" + os.sep) and (
        name.startswith("catalog") or name == "schema.cpp")


def check_catalog_sql(source_dir):
    problems = []
    for module in ("platform", "config", "s3", "storage", "agent"):
        for path in module_files(source_dir, module):
            rel = os.path.relpath(path, source_dir)
            if catalog_owned(rel):
                continue
            with open(path, encoding="utf-8", errors="replace") as f:
                for number, line in enumerate(f, 1):
                    if CATALOG_SQL.search(code_of(line)):
                        problems.append(f"{rel}:{number}: buffer table SQL outside the catalog: "
                                        f"{line.strip()[:100]}")
    return problems


def main(argv):
    if len(argv) == 3 and argv[1] == "--catalog-only-sql":
        problems = check_catalog_sql(os.path.abspath(argv[2]))
        name = "catalog SQL"
    elif len(argv) == 3:
        source_dir, build_dir = os.path.abspath(argv[1]), os.path.abspath(argv[2])
        problems = (check_includes(source_dir) + check_link_graph(source_dir, build_dir) +
                    check_receiver_link_line(build_dir))
        name = "layering"
    else:
        print(__doc__, file=sys.stderr)
        return 2
    for p in problems:
        print(p)
    print(f"{name}: {len(problems)} problem(s)" if problems else f"{name}: ok")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
