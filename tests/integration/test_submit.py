"""granary submit against the real binary: a report with two attachments lands in the
outbox exactly in the producer contract's layout (<uuid>/ with the files, then <uuid>.json,
no dot-names left) and the UUID is printed; each exit code: 65 for bad JSON, a contradicting
--kind and a bad attachment name, 66 for a missing report or attachment, 73 for a full outbox
and one that cannot be written, 78 for an ambiguous outbox. A failed submit leaves the outbox
as it was."""
import hashlib
import json
import os
import sys

from harness import Agent, check, fail

UUID_LEN = 36


def listing(root):
    out = []
    for d, dirs, files in os.walk(root):
        rel = os.path.relpath(d, root)
        out += [os.path.normpath(os.path.join(rel, n)) for n in dirs + files]
    return sorted(out)


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def main():
    agent = Agent("")
    outbox = os.path.join(agent.dir, "outbox")
    agent.write_config(f'[[outbox]]\nname = "errors"\npath = "{outbox}"\n')
    src = os.path.join(agent.dir, "src")
    os.makedirs(src)
    report = os.path.join(src, "report.json")
    with open(report, "w") as f:
        json.dump({"error": "E42", "files": [{"name": "extra.bin", "size": 1, "sha256": "00"}]}, f)
    cam = os.path.join(src, "cam0.jpg")
    with open(cam, "wb") as f:
        f.write(os.urandom(300_000))
    log = os.path.join(src, "run.log")
    with open(log, "wb") as f:
        f.write(b"")  # an empty file is a file too

    r = agent.cli("submit", report, "--attach", cam, log, check_rc=0)
    uuid = r.stdout.strip()
    check(len(uuid) == UUID_LEN and uuid[14] == "4", f"printed UUID {r.stdout!r}")
    want = sorted([uuid, f"{uuid}/cam0.jpg", f"{uuid}/run.log", f"{uuid}.json"])
    check(listing(outbox) == want, f"outbox holds {listing(outbox)}, wanted {want}")
    with open(os.path.join(outbox, f"{uuid}.json")) as f:
        body = json.load(f)
    check(body["uuid"] == uuid and body["kind"] == "errors" and body["error"] == "E42",
          f"report {body}")
    files = {e["name"]: e for e in body["files"]}
    check(set(files) == {"extra.bin", "cam0.jpg", "run.log"}, f"files {body['files']}")
    for name, path in (("cam0.jpg", cam), ("run.log", log)):
        placed = os.path.join(outbox, uuid, name)
        check(files[name]["size"] == os.path.getsize(path) and
              files[name]["sha256"] == sha256(path) == sha256(placed), f"{name}: {files[name]}")
        check(os.stat(placed).st_ino == os.stat(path).st_ino, f"{name} not hard-linked")
    print(f"submit: {uuid} with 2 attachments, layout {want}")

    # Into an existing <uuid>/ (files that arrived before): one by one, the report after.
    early = "0f8fad5b-d9cb-469f-a165-70867728950e"
    os.makedirs(os.path.join(outbox, early))
    with open(os.path.join(outbox, early, "first.txt"), "w") as f:
        f.write("first")
    with open(os.path.join(src, "second.txt"), "w") as f:
        f.write("second")
    r = agent.cli("submit", "--uuid", early, "--kind", "job", report, "--attach",
                  os.path.join(src, "second.txt"), check_rc=0)
    check(r.stdout.strip() == early, f"printed {r.stdout!r}")
    check(sorted(os.listdir(os.path.join(outbox, early))) == ["first.txt", "second.txt"],
          f"{early}/ holds {os.listdir(os.path.join(outbox, early))}")

    before = listing(outbox)
    bad = os.path.join(src, "bad.json")
    with open(bad, "w") as f:
        f.write('{"a": 1,')
    badname = os.path.join(src, "bad name.txt")
    with open(badname, "w") as f:
        f.write("x")
    cases = [
        ("bad JSON", [bad], 65, "not valid JSON"),
        ("contradicting --kind", ["--kind", "other", os.path.join(src, "k.json")], 65,
         "contradicts"),
        ("bad attachment name", [report, "--attach", badname], 65, "not 1 to 200"),
        ("missing report", [os.path.join(src, "absent.json")], 66, "cannot read"),
        ("missing attachment", [report, "--attach", os.path.join(src, "absent.jpg")], 66,
         "absent.jpg"),
        # No unprivileged way to fill a filesystem here (no tmpfs mount), so the margin asks
        # for more than any filesystem has: the same check a full disk fails.
        ("outbox full", ["--margin", "1000000TiB", report, "--attach", cam], 73, "is full"),
    ]
    with open(os.path.join(src, "k.json"), "w") as f:
        json.dump({"kind": "job"}, f)
    cases.append(("report already there", ["--uuid", uuid, report, "--attach", cam], 73,
                  "already in"))
    for what, args, code, text in cases:
        r = agent.cli("submit", *args)
        check(r.returncode == code and text in r.stderr and r.stdout == "",
              f"{what}: exit {r.returncode} (wanted {code}), stderr {r.stderr!r}")
        check(listing(outbox) == before, f"{what}: the outbox changed: {listing(outbox)}")
        print(f"{what}: exit {code}: {r.stderr.strip()}")

    # Cannot be written: the outbox path is a regular file. (A read-only directory would
    # not stop root, which the tests may run as.)
    blocked = os.path.join(agent.dir, "blocked")
    with open(blocked, "w") as f:
        f.write("not a directory")
    agent.write_config(f'[[outbox]]\nname = "errors"\npath = "{blocked}"\n')
    r = agent.cli("submit", report)
    check(r.returncode == 73 and "cannot be written" in r.stderr, f"blocked: {r.returncode} "
          f"{r.stderr!r}")
    print(f"cannot be written: exit 73: {r.stderr.strip()}")

    agent.write_config(f'[[outbox]]\nname = "a"\npath = "{outbox}"\n'
                       f'[[outbox]]\nname = "b"\npath = "{outbox}-b"\n')
    r = agent.cli("submit", report)
    check(r.returncode == 78 and "--outbox" in r.stderr, f"two outboxes: {r.returncode} "
          f"{r.stderr!r}")
    r = agent.cli("submit", "--outbox", "b", report, check_rc=0)
    check(os.path.exists(os.path.join(outbox + "-b", r.stdout.strip() + ".json")),
          "--outbox b not used")
    r = agent.cli("submit", "--help", check_rc=0)
    check("65" in r.stdout and "73" in r.stdout, "--help names the exit codes")
    print("PASS")


if __name__ == "__main__":
    main()
