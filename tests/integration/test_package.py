"""The Debian packages: lintian has no errors; systemd-analyze verify accepts both units;
the agent unit is Type=notify with a watchdog and the hardening docs/operations.md lists;
and, as root, dpkg -i installs both, `granary check-config` passes on the shipped config,
the users and state dirs exist, remove keeps them and purge removes them.

usage: test_package.py [DEB_DIR]   (default: build-deb; `make package` fills it)
Not in CTest: building the packages takes longer than the suite's budget."""
import glob
import os
import pwd
import subprocess
import sys
import tempfile

from harness import SOURCE_DIR, check, fail

UNIT_MUST_HAVE = [
    "Type=notify", "WatchdogSec=", "User=granary", "StateDirectory=granary",
    "ConfigurationDirectory=granary", "ProtectSystem=strict", "ProtectHome=yes",
    "PrivateTmp=yes", "NoNewPrivileges=yes", "CapabilityBoundingSet=\n",
    "RestrictAddressFamilies=", "MemoryMax=", "RestartPreventExitStatus=78",
]


def run(*args, **kw):
    return subprocess.run(list(args), capture_output=True, text=True, **kw)


def debs(deb_dir):
    found = {}
    for path in glob.glob(os.path.join(deb_dir, "*.deb")):
        name = run("dpkg-deb", "-f", path, "Package").stdout.strip()
        found[name] = path
    for name in ("granary", "granary-receiver"):
        check(name in found, f"no {name} .deb in {deb_dir}: run make package")
    return found


def lintian(paths):
    r = run("lintian", "--tag-display-limit", "0", *paths)
    print(r.stdout, end="")
    errors = [line for line in r.stdout.splitlines() if line.startswith("E:")]
    check(not errors, f"lintian errors: {errors}")


def units(found, root):
    for name, path in found.items():
        run("dpkg-deb", "-x", path, root, check=True)
    unit_dir = os.path.join(root, "lib", "systemd", "system")
    with open(os.path.join(unit_dir, "granary.service")) as f:
        text = f.read()
    for needle in UNIT_MUST_HAVE:
        check(needle in text, f"granary.service lacks {needle!r}")
    check("ProtectClock" not in text.replace("# No ProtectClock=", ""),
          "ProtectClock= would make every reading unsynced (docs/decisions.md)")
    for page in ("granary.1.gz", "granary-receiver.1.gz"):
        check(os.path.exists(os.path.join(root, "usr", "share", "man", "man1", page)),
              f"no man page {page}")
    # Verified on this system's units, with the ExecStart binaries from the packages.
    for unit in ("granary.service", "granary-receiver.service"):
        with open(os.path.join(unit_dir, unit)) as f:
            text = f.read().replace("/usr/bin/granary", os.path.join(root, "usr/bin/granary"))
        copy = os.path.join(root, unit)
        with open(copy, "w") as f:
            f.write(text)
        r = run("systemd-analyze", "verify", "--man=no", copy)
        check(r.returncode == 0 and not (r.stdout + r.stderr).strip(),
              f"systemd-analyze verify {unit}: rc {r.returncode}\n{r.stdout}{r.stderr}")


def user_exists(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def install_cycle(found):
    if os.geteuid() != 0:
        print("SKIP install/remove/purge: needs root (dpkg -i)")
        return
    if run("dpkg-query", "-W", "-f=${Status}", "granary").stdout.startswith("install ok"):
        print("SKIP install/remove/purge: granary is already installed on this machine")
        return
    try:
        r = run("dpkg", "-i", found["granary"], found["granary-receiver"])
        check(r.returncode == 0, f"dpkg -i: {r.stdout}{r.stderr}")
        check(os.path.exists("/etc/granary/granary.toml"), "no /etc/granary/granary.toml")
        for user, state in (("granary", "/var/lib/granary"),
                            ("granary-receiver", "/var/lib/granary-receiver")):
            check(user_exists(user), f"user {user} not created")
            check(os.path.isdir(state), f"{state} not created")
            st = os.stat(state)
            check(st.st_uid == pwd.getpwnam(user).pw_uid, f"{state} not owned by {user}")
        r = run("/usr/bin/granary", "check-config", "-c", "/etc/granary/granary.toml")
        check(r.returncode == 0, f"check-config of the shipped config: {r.stderr}")
        # And as the service user, as systemd would run it.
        r = run("runuser", "-u", "granary", "--", "/usr/bin/granary", "check-config", "-c",
                "/etc/granary/granary.toml")
        check(r.returncode == 0, f"check-config as user granary: {r.stderr}")
        depends = run("dpkg-query", "-W", "-f=${Depends}", "granary").stdout
        check("libmosquitto1" in depends and "libsqlite3" in depends,
              f"Depends not from shlibs: {depends}")
        r = run("/usr/bin/granary-receiver", "--help")
        print("granary-receiver:", (r.stdout + r.stderr).strip().splitlines()[:1])

        r = run("dpkg", "-r", "granary", "granary-receiver")
        check(r.returncode == 0, f"dpkg -r: {r.stderr}")
        check(not os.path.exists("/usr/bin/granary"), "binary left after remove")
        check(os.path.isdir("/var/lib/granary") and user_exists("granary"),
              "remove must keep the state dir and the user")

        r = run("dpkg", "--purge", "granary", "granary-receiver")
        check(r.returncode == 0, f"dpkg --purge: {r.stderr}")
        for user, state in (("granary", "/var/lib/granary"),
                            ("granary-receiver", "/var/lib/granary-receiver")):
            check(not os.path.exists(state), f"purge left {state}")
            check(not user_exists(user), f"purge left user {user}")
        check(not os.path.exists("/etc/granary/granary.toml"), "purge left the conffile")
    finally:
        run("dpkg", "--purge", "granary", "granary-receiver")


def main():
    deb_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(SOURCE_DIR, "build-deb")
    found = debs(deb_dir)
    lintian(list(found.values()))
    with tempfile.TemporaryDirectory(prefix="granary-deb-") as root:
        units(found, root)
    install_cycle(found)
    print("PASS test_package")


if __name__ == "__main__":
    main()
