"""TLS and enrollment. A test CA made here with the openssl CLI signs the receiver's
certificate; `granary-receiver device add NAME --enroll` prints a one-time token, and
`granary enroll --receiver https://... --token ... --ca ...` fetches the device's key over
TLS and writes the credentials file (0600) and conf.d/upload.toml; the agent then uploads.
A spent token is refused. SIGHUP swaps the certificate without a restart and keeps the
running config when the new one is bad. Then the same enrollment and uploads through
haproxy terminating TLS in front of a plain-HTTP receiver."""
import os
import re
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import time
import urllib.request

from harness import Agent, check, fail
from balancer import Balancer
from receiver_harness import Receiver, receiver_config, run_receivers

SOURCES = """
[segment]
max_readings = 100

[[source]]
name = "synth"
type = "synthetic"
interval = "100ms"
rate = 200
"""


def openssl(workdir, *args):
    r = subprocess.run(["openssl", *args], cwd=workdir, capture_output=True, text=True, timeout=60)
    check(r.returncode == 0, f"openssl {' '.join(args)}: {r.stderr}")


def make_ca(workdir):
    openssl(workdir, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=granary test CA")
    return os.path.join(workdir, "ca.pem")


def make_server_cert(workdir, name):
    """{name}.pem and {name}.key for 127.0.0.1, signed by the test CA."""
    with open(os.path.join(workdir, "san.cnf"), "w") as f:
        f.write("subjectAltName = IP:127.0.0.1\n")
    openssl(workdir, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}")
    openssl(workdir, "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", "san.cnf")
    return os.path.join(workdir, f"{name}.pem"), os.path.join(workdir, f"{name}.key")


def served_cert_cn(port, ca):
    ctx = ssl.create_default_context(cafile=ca)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        with ctx.wrap_socket(s, server_hostname="127.0.0.1") as t:
            return dict(x[0] for x in t.getpeercert()["subject"])["commonName"]


def enroll_token(receiver, device):
    r = receiver.cli("device", "add", device, "--enroll")
    check(r.returncode == 0, f"device add --enroll: {r.stderr}")
    m = re.search(r"^enrollment token: (\S+)$", r.stdout, re.M)
    check(m and "secret key" not in r.stdout, f"device add --enroll printed: {r.stdout}")
    return m.group(1)


def enroll_and_upload(receiver, device, url, ca, timeout=60):
    """Enrolls a fresh agent as `device` through `url`, runs it until the receiver has
    readings of it, and returns the token (spent)."""
    token = enroll_token(receiver, device)
    agent = Agent(SOURCES, device=device)
    r = agent.cli("enroll", "--receiver", url, "--token", token, "--ca", ca)
    check(r.returncode == 0, f"granary enroll: rc {r.returncode}\n{r.stdout}\n{r.stderr}")
    creds = os.path.join(agent.dir, "s3.credentials")
    dropin = os.path.join(agent.dir, "conf.d", "upload.toml")
    check(stat.S_IMODE(os.stat(creds).st_mode) == 0o600, "credentials file is not 0600")
    check(f"wrote {creds}" in r.stdout and f"wrote {dropin}" in r.stdout, f"enroll said: {r.stdout}")
    with open(dropin) as f:
        section = f.read()
    check(f'endpoint = "{url}"' in section and "credentials_file" in section, section)
    effective = agent.cli("check-config", check_rc=0).stdout
    if url not in effective:  # this agent does not merge conf.d/ yet: the section goes in
        with open(agent.config, "a") as f:
            f.write("\n" + section + 'retry_min = "100ms"\nretry_max = "1s"\n')
    agent.start()
    try:
        deadline = time.time() + timeout
        while time.time() < deadline:
            status, body = receiver.api(f"/api/v1/devices/{device}")
            if status == 200 and body.get("readings", 0) > 0:
                break
            time.sleep(0.5)
        else:
            fail(f"no readings of {device} reached the receiver through {url}:\n"
                 f"{agent.read_log()[-3000:]}")
    finally:
        agent.stop()
    again = agent.cli("enroll", "--receiver", url, "--token", token, "--ca", ca)
    check(again.returncode == 1 and "403" in again.stderr, f"a spent token: {again.stderr}")
    return token


def main():
    work = os.path.abspath(os.environ.get("TMPDIR", "/tmp"))
    work = os.path.join(work, f"granary-tls-{os.getpid()}")
    os.makedirs(work)
    ca = make_ca(work)
    cert, key = make_server_cert(work, "first")
    tls = Receiver()
    tls_extra = f'[http]\ntls_cert = "{cert}"\ntls_key = "{key}"\n'
    with open(tls.config, "w") as f:
        f.write(receiver_config(tls.data, extra=tls_extra, devices={}))
    plain = Receiver()
    receivers = [tls, plain]
    haproxy = []

    def body():
        tls.start()
        tls.endpoint = f"https://127.0.0.1:{tls.port}"
        check(served_cert_cn(tls.port, ca) == "first", "the receiver does not serve its certificate")
        plain_http = urllib.request.Request(f"http://127.0.0.1:{tls.port}/healthz")
        try:
            urllib.request.urlopen(plain_http, timeout=5)
            fail("plain HTTP answered on the TLS port")
        except Exception:
            pass
        ctx = ssl.create_default_context(cafile=ca)
        with urllib.request.urlopen(f"{tls.endpoint}/healthz", timeout=10, context=ctx) as r:
            check(r.status == 200, "healthz over TLS")
        tls.api = lambda path, **kw: api_tls(tls, ctx, path)
        token = enroll_and_upload(tls, "h017", tls.endpoint, ca)
        check(token not in tls.read_log(), "the enrollment token was logged")

        # SIGHUP: a new certificate is served without a restart; a broken one is refused.
        new_cert, new_key = make_server_cert(work, "second")
        shutil.copy(new_cert, cert)
        shutil.copy(new_key, key)
        tls.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 10
        while served_cert_cn(tls.port, ca) != "second" and time.time() < deadline:
            time.sleep(0.2)
        check(served_cert_cn(tls.port, ca) == "second", "SIGHUP did not swap the certificate")
        with open(cert, "w") as f:
            f.write("not a certificate\n")
        tls.proc.send_signal(signal.SIGHUP)
        time.sleep(2)
        check(tls.proc.poll() is None, "a bad certificate on reload stopped the receiver")
        check(served_cert_cn(tls.port, ca) == "second", "a bad certificate replaced the good one")
        check("serving the old ones" in tls.read_log(), "no log line for the refused certificate")
        with open(tls.config, "a") as f:
            f.write("bogus_key = 1\n")
        tls.proc.send_signal(signal.SIGHUP)
        time.sleep(2)
        check("keeping the running config" in tls.read_log(), "a bad config on reload not logged")
        check(served_cert_cn(tls.port, ca) == "second", "receiver unhealthy after a bad reload")

        # haproxy terminates TLS in front of a plain-HTTP receiver.
        with open(plain.config, "w") as f:
            f.write(receiver_config(plain.data, devices={}))
        plain.start()
        combined = os.path.join(work, "haproxy.pem")
        with open(combined, "w") as f:
            f.write(open(new_cert).read() + open(new_key).read())
        balancer = Balancer([plain.port], workdir=os.path.join(work, "haproxy"), tls_pem=combined)
        haproxy.append(balancer)
        balancer.start()
        enroll_and_upload(plain, "h018", balancer.endpoint, ca)

    try:
        run_receivers(receivers, body, "receiver_tls")
    finally:
        for b in haproxy:
            b.stop()
    shutil.rmtree(work, ignore_errors=True)


def api_tls(receiver, ctx, path):
    import json
    req = urllib.request.Request(receiver.endpoint + path)
    req.add_header("Authorization", "Bearer reader-token-0123456789abcdef")
    try:
        with urllib.request.urlopen(req, timeout=30, context=ctx) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, e.read()


if __name__ == "__main__":
    main()
