"""The worked configurations in packaging/examples/ (also shown in docs/configuration.md,
"Examples"): each passes `granary check-config`, with the files it names (credentials,
MQTT password, CA) stubbed in a temp dir, and a typo in any of them fails it. The EAGLE 3
example's openssl line, run as written against a local `openssl s_server`, prints the pin
of that server's key, and the agent's `pinned_public_key` in that form (libcurl's
`sha256//BASE64`) polls an EAGLE simulator serving the same certificate, while another pin
is refused."""
import base64
import hashlib
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time

from harness import BIN, SOURCE_DIR, check, fail
from receiver_harness import free_port

EXAMPLES = os.path.join(SOURCE_DIR, "packaging", "examples")
DOC = os.path.join(SOURCE_DIR, "docs", "configuration.md")


def run(*args, **kw):
    return subprocess.run(list(args), capture_output=True, text=True, timeout=60, **kw)


def stub_files(work):
    """The secrets and CA the examples name, as check-config wants them (0600)."""
    with open(os.path.join(work, "s3.credentials"), "w") as f:
        f.write("[default]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = example-secret\n")
    with open(os.path.join(work, "mqtt.password"), "w") as f:
        f.write("example-password\n")
    for name in ("s3.credentials", "mqtt.password"):
        os.chmod(os.path.join(work, name), 0o600)
    shutil.copyfile("/etc/ssl/certs/ca-certificates.crt", os.path.join(work, "ca.pem"))


def check_config(path):
    return run(BIN, "check-config", "-c", path)


def check_examples(work):
    names = sorted(os.listdir(EXAMPLES))
    check(len(names) >= 5, f"examples: {names}")
    with open(DOC) as f:
        doc = f.read()
    for name in names:
        check(name.endswith(".toml"), f"packaging/examples/{name} is not a .toml")
        check(f"packaging/examples/{name}" in doc, f"docs/configuration.md does not show {name}")
        with open(os.path.join(EXAMPLES, name)) as f:
            text = f.read()
        check(f"```toml\n{text}```" in doc, f"docs/configuration.md does not show {name} as it is")
        # The files an example names under /etc/granary/ are this test's stubs.
        text = text.replace("/etc/granary/", work + "/")
        path = os.path.join(work, name)
        with open(path, "w") as f:
            f.write(text)
        r = check_config(path)
        check(r.returncode == 0, f"check-config {name}: rc {r.returncode}\n{r.stderr}")
        # And a typo is caught: the check can fail.
        with open(path, "a") as f:
            f.write("\n[[source]]\nname = \"typo\"\ntype = \"system\"\nintervall = \"1m\"\n")
        r = check_config(path)
        check(r.returncode == 78 and "intervall" in r.stderr, f"{name} with a typo: rc {r.returncode}")
        print(f"check-config {name}: ok")


def wait_port(port, proc, what):
    deadline = time.time() + 10
    while time.time() < deadline:
        if proc.poll() is not None:
            fail(f"{what} exited {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    fail(f"{what} did not listen on {port}")


def pin_from_example(work, cert, key):
    """The openssl line of eagle3-pinned.toml, run against openssl s_server."""
    with open(os.path.join(EXAMPLES, "eagle3-pinned.toml")) as f:
        text = f.read()
    m = re.search(r"^#\s+(openssl s_client -connect (\S+):443 .*)$", text, re.M)
    check(m, "eagle3-pinned.toml has no openssl line")
    line = m.group(1).replace(f"{m.group(2)}:443", "127.0.0.1:{port}")
    with open(DOC) as f:
        check(m.group(1).replace(m.group(2), "HOST") in f.read(),
              "docs/configuration.md does not show the openssl line of eagle3-pinned.toml")
    port = free_port()
    server = subprocess.Popen(["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert", cert,
                               "-key", key, "-www", "-quiet"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        wait_port(port, server, "openssl s_server")
        r = subprocess.run(["/bin/bash", "-c", "set -o pipefail; " + line.format(port=port)],
                           capture_output=True, text=True, timeout=60, cwd=work)
        check(r.returncode == 0, f"{line}: rc {r.returncode} {r.stderr}")
        pin = r.stdout.strip()
    finally:
        server.terminate()
        server.wait(timeout=10)
    check(re.fullmatch(r"[A-Za-z0-9+/]{43}=", pin), f"the pipeline printed {pin!r}")
    # The same digest, computed here from the key file.
    der = subprocess.run(["openssl", "pkey", "-in", key, "-pubout", "-outform", "der"],
                         capture_output=True, timeout=60, check=True).stdout
    check(pin == base64.b64encode(hashlib.sha256(der).digest()).decode(),
          f"the pipeline's pin {pin} is not the SHA-256 of the server's public key")
    return pin


def poll_with_pin(work, cert, key, pin):
    sim = subprocess.Popen(["/usr/bin/python3", os.path.join(SOURCE_DIR, "tests", "sim", "eagle_sim.py"),
                            "--tls-cert", cert, "--tls-key", key], stdout=subprocess.PIPE, text=True)
    try:
        port = int(sim.stdout.readline())
        with open(os.path.join(EXAMPLES, "eagle3-pinned.toml")) as f:
            example = f.read()
        results = {}
        for label, value in (("right", pin), ("wrong", "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=")):
            text = re.sub(r'^url = .*$', f'url = "https://127.0.0.1:{port}"', example, flags=re.M)
            text = re.sub(r'^cloud_id = .*$', 'cloud_id = "00a1b2"', text, flags=re.M)
            text = re.sub(r'^install_code = .*$', 'install_code = "0123456789abcdef"', text, flags=re.M)
            text = re.sub(r'^pinned_public_key = .*$', f'pinned_public_key = "sha256//{value}"', text,
                          flags=re.M)
            text = text.replace('device = "home-0043"', f'device = "home-0043"\nstate_dir = "{work}/state-{label}"')
            path = os.path.join(work, f"pinned-{label}.toml")
            with open(path, "w") as f:
                f.write(text)
            results[label] = run(BIN, "poll", "meter", "-c", path)
        right, wrong = results["right"], results["wrong"]
        check(right.returncode == 0 and '"demand_kw":2.79' in right.stdout,
              f"poll with the pin from the openssl line: rc {right.returncode}\n{right.stdout}\n{right.stderr}")
        check(wrong.returncode != 0 and "2.79" not in wrong.stdout,
              f"poll with another pin succeeded: {wrong.stdout}")
        print(f"pin {pin}: accepted; another pin: refused ({(wrong.stdout + wrong.stderr).strip()[-160:]})")
    finally:
        sim.terminate()
        sim.wait(timeout=10)


def main():
    work = tempfile.mkdtemp(prefix="granary-examples-")
    stub_files(work)
    check_examples(work)
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", os.path.join(work, "eagle.key"), "-out", os.path.join(work, "eagle.pem"), "-days", "2",
        "-subj", "/CN=eagle3", check=True)
    cert, key = os.path.join(work, "eagle.pem"), os.path.join(work, "eagle.key")
    pin = pin_from_example(work, cert, key)
    poll_with_pin(work, cert, key, pin)
    shutil.rmtree(work, ignore_errors=True)
    print("PASS test_examples")


if __name__ == "__main__":
    main()
