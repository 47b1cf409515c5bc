#!/usr/bin/python3
"""A running process's cost over an interval, from /proc alone: CPU, memory and wakeups.

usage: proc_sample.py PID SECONDS LABEL [smaps]

A wakeup is a context switch of one of its threads (voluntary: it slept and was woken;
nonvoluntary: it was preempted), counted from /proc/PID/task/*/status at both ends of the
interval. Memory is read at the end: RssAnon and VmRSS from status, Pss and Private_Dirty
from smaps_rollup. Prints "LABEL: metric<TAB>value<TAB>unit" lines, then one line per thread
with the KiB of its stack that is resident (the mapping holding the stack pointer that
/proc/PID/task/TID/syscall shows; "?" for a thread running at that moment);
with "smaps", then private dirty KiB per mapping name (anonymous mappings by their size,
which tells thread stacks from malloc arenas), largest first.
"""
import os
import sys
import time


def field(text, name):
    for line in text.splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    return 0


def read(path):
    with open(path) as f:
        return f.read()


def threads(pid):
    """tid -> (name, context switches); a thread gone since the listing is skipped."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            status = read(f"/proc/{pid}/task/{tid}/status")
        except OSError:
            continue
        name = status.splitlines()[0].split(None, 1)[1] if status else "?"
        out[tid] = (name, field(status, "voluntary_ctxt_switches") +
                    field(status, "nonvoluntary_ctxt_switches"))
    return out


def private_dirty_by_mapping(pid):
    out = {}
    name = None
    for line in read(f"/proc/{pid}/smaps").splitlines():
        head = line.split()
        if "-" in head[0] and ":" not in head[0]:  # a mapping's first line
            lo, hi = (int(x, 16) for x in head[0].split("-"))
            name = head[5] if len(head) > 5 else f"anon {(hi - lo) // 1024} KiB"
        elif head[0] == "Private_Dirty:":
            out[name] = out.get(name, 0) + int(head[1])
    return sorted(((kib, n) for n, kib in out.items() if kib > 0), reverse=True)


def mappings(pid):
    """(low, high, private dirty KiB) of every mapping."""
    out = []
    for line in read(f"/proc/{pid}/smaps").splitlines():
        head = line.split()
        if "-" in head[0] and ":" not in head[0]:
            lo, hi = (int(x, 16) for x in head[0].split("-"))
            out.append([lo, hi, 0])
        elif head[0] == "Private_Dirty:":
            out[-1][2] = int(head[1])
    return out


def stack_kib(pid, tid, maps):
    """Resident KiB of the mapping that holds the thread's stack pointer, or None."""
    try:
        fields = read(f"/proc/{pid}/task/{tid}/syscall").split()
    except OSError:
        return None
    if len(fields) < 3:  # "running"
        return None
    sp = int(fields[-2], 16)
    for lo, hi, kib in maps:
        if lo <= sp < hi:
            return kib
    return None


def cpu_ticks(pid):
    # Fields after the parenthesised name, which may itself hold spaces.
    rest = read(f"/proc/{pid}/stat").rsplit(")", 1)[1].split()
    return int(rest[11]) + int(rest[12])  # utime + stime


def main():
    pid, seconds, label = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
    ticks = os.sysconf("SC_CLK_TCK")
    t0, c0, w0 = time.monotonic(), cpu_ticks(pid), threads(pid)
    time.sleep(seconds)
    t1, c1, w1 = time.monotonic(), cpu_ticks(pid), threads(pid)
    span = t1 - t0
    status = read(f"/proc/{pid}/status")
    rollup = read(f"/proc/{pid}/smaps_rollup")
    per_thread = []
    for tid, (name, n1) in sorted(w1.items(), key=lambda kv: int(kv[0])):
        n0 = w0.get(tid, (name, 0))[1]  # a thread born meanwhile counts from zero
        per_thread.append((tid, name, (n1 - n0) / span))
    total = sum(w for _, _, w in per_thread)
    rows = [
        ("CPU", f"{100 * (c1 - c0) / ticks / span:.3f}", "% of one core"),
        ("RssAnon", f"{field(status, 'RssAnon') / 1024:.2f}", "MiB"),
        ("total RSS", f"{field(status, 'VmRSS') / 1024:.2f}", "MiB"),
        ("PSS", f"{field(rollup, 'Pss') / 1024:.2f}", "MiB"),
        ("private dirty", f"{field(rollup, 'Private_Dirty') / 1024:.2f}", "MiB"),
        ("threads", f"{len(w1)}", ""),
        ("wakeups", f"{total:.2f}", "per second, all threads"),
        ("load average", f"{os.getloadavg()[0]:.2f}", "at the end (other processes)"),
    ]
    for metric, value, unit in rows:
        print(f"{label}: {metric}\t{value}\t{unit}")
    maps = mappings(pid)
    for tid, name, rate in per_thread:
        kib = stack_kib(pid, tid, maps)
        stack = "?" if kib is None else str(kib)
        print(f"{label}: thread {tid} ({name})\t{rate:.2f}\twakeups/s, stack {stack} KiB")
    if len(sys.argv) > 4 and sys.argv[4] == "smaps":
        for kib, name in private_dirty_by_mapping(pid):
            print(f"{label}: private dirty {name}\t{kib}\tKiB")


if __name__ == "__main__":
    main()
