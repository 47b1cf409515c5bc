"""The Debian packages: lintian has no errors; systemd-analyze verify accepts both units;
the agent unit is Type=notify with a watchdog and the hardening docs/operations.md lists;
and, as root, dpkg -i installs both, `granary check-config` passes on the shipped config,
the users and state dirs exist, remove keeps them and purge removes them.

usage: test_package.py [DEB_DIR]
Without DEB_DIR it builds the packages first with packaging/build-deb.sh, into
$GRANARY_DEB_DIR (CTest: build/deb; the stage is reused, so a rebuild compiles only what
changed). Not as root it checks everything but the install cycle, then says why it skips
that and exits 77 (CTest reports the test skipped, never passed)."""
import glob
import os
import pwd
import subprocess
import sys
import tempfile
import time

from harness import SOURCE_DIR, check, fail

SKIP = 77  # CTest's SKIP_RETURN_CODE for this test

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


def docs(root):
    """Each package carries its docs and the worked examples."""
    for path in ("usr/share/doc/granary-receiver/receiver.md", "usr/share/doc/granary-receiver/fleet.md",
                 "usr/share/doc/granary/configuration.md"):
        check(os.path.exists(os.path.join(root, path)) or os.path.exists(os.path.join(root, path + ".gz")),
              f"no /{path} in the packages")
    examples = os.path.join(SOURCE_DIR, "packaging", "examples")
    for name in sorted(os.listdir(examples)):
        installed = os.path.join(root, "usr/share/doc/granary/examples", name)
        check(os.path.exists(installed) or os.path.exists(installed + ".gz"),
              f"example {name} not in /usr/share/doc/granary/examples")


def dashboard_files(root):
    """granary-receiver carries the dashboard's files as they are in receiver/www."""
    www = os.path.join(SOURCE_DIR, "receiver", "www")
    for name in sorted(os.listdir(www)):
        installed = os.path.join(root, "usr/share/granary-receiver/www", name)
        check(os.path.exists(installed), f"dashboard file {name} not in /usr/share/granary-receiver/www")
        with open(installed, "rb") as a, open(os.path.join(www, name), "rb") as b:
            check(a.read() == b.read(), f"/usr/share/granary-receiver/www/{name} differs from receiver/www")


def user_exists(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def install_cycle(found):
    """None when the cycle ran, else why it could not."""
    if os.geteuid() != 0:
        return "install/remove/purge need root (dpkg -i); run as root, as CI does"
    if run("dpkg-query", "-W", "-f=${Status}", "granary").stdout.startswith("install ok"):
        return "granary is already installed on this machine; it is not replaced by a test"
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
        # Loaded only when /metrics is served, so shlibs cannot see it (metrics_server.cpp).
        check("libmicrohttpd12" in depends, f"Depends lacks libmicrohttpd12: {depends}")
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
    return None


def build(deb_dir):
    """packaging/build-deb.sh into deb_dir, with as many jobs as there are cores and without
    optimisation (noopt) or debug information (-g stripped from dpkg-buildflags, about a sixth
    of each file's compile time): what this test checks (lintian, the unit, install, purge)
    does not depend on them, and the build takes a fraction of the time. `make package`
    builds with both."""
    t0 = time.time()
    env = dict(os.environ, DEB_BUILD_OPTIONS=f"parallel={os.cpu_count() or 1} nocheck noopt",
               DEB_CFLAGS_STRIP="-g", DEB_CXXFLAGS_STRIP="-g")
    for name in ("ASAN_OPTIONS", "UBSAN_OPTIONS"):
        env.pop(name, None)
    # Niced: under `make test` the other tests run beside this build (tests/CMakeLists.txt)
    # and their timing must not suffer for it.
    r = subprocess.run(["nice", "-n", "19", os.path.join(SOURCE_DIR, "packaging", "build-deb.sh"), deb_dir],
                       capture_output=True, text=True, env=env, timeout=1500)
    check(r.returncode == 0, f"build-deb.sh exited {r.returncode}:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    print(f"packages built in {time.time() - t0:.0f} s")


def main():
    if len(sys.argv) > 1:
        deb_dir = sys.argv[1]
    else:
        deb_dir = os.environ.get("GRANARY_DEB_DIR", os.path.join(SOURCE_DIR, "build-deb"))
        build(deb_dir)
    found = debs(deb_dir)
    lintian(list(found.values()))
    with tempfile.TemporaryDirectory(prefix="granary-deb-") as root:
        units(found, root)
        docs(root)
        dashboard_files(root)
    skipped = install_cycle(found)
    if skipped:
        print(f"SKIP test_package: lintian, units and contents checked; not installed: {skipped}")
        sys.exit(SKIP)
    print("PASS test_package")


if __name__ == "__main__":
    main()
