"""A large file through the real agent and the real receiver by resumable multipart upload
(8 MiB parts), the agent killed with SIGKILL at random moments during it (restarted each
time) and the receiver killed and restarted once in the middle. Afterwards the object is
complete and its SHA-256, read back from the receiver, equals the file's; the UploadPart
requests the receiver saw (`granary_receiver_multipart_requests_total`) are the file's
parts plus at most the one in flight at each kill; no multipart upload is left open on
the receiver (ListMultipartUploads) or in the agent's catalog.

GRANARY_E2E_RESUME_MIB (default 300) and GRANARY_E2E_RESUME_KILLS (default 20) set the
size and the number of agent kills."""
import hashlib
import os
import random
import signal
import time

from harness import Agent, check, wait_until
from receiver_harness import agent_and_receiver, boto3_client
from test_receiver_agent import fixed_port_receiver

MiB = 1 << 20
PART = 8 * MiB
SIZE = int(os.environ.get("GRANARY_E2E_RESUME_MIB", "300")) * MiB + 12345  # a short last part
KILLS = int(os.environ.get("GRANARY_E2E_RESUME_KILLS", "20"))
PARTS = -(-SIZE // PART)
UPLOAD_PART = 'granary_receiver_multipart_requests_total{operation="UploadPart"}'


class Counters:
    """The receiver's counters summed over its lives (a restart starts them at 0)."""
    NAMES = {"requests": UPLOAD_PART, "stored": "granary_receiver_multipart_parts_total",
             "completed": "granary_receiver_multipart_completed_total"}

    def __init__(self, receiver):
        self.receiver = receiver
        self.base = dict.fromkeys(self.NAMES, 0)

    def now(self):
        _, text = self.receiver.api("/metrics", token=None)
        samples = dict(line.rsplit(" ", 1) for line in text.splitlines()
                       if line and not line.startswith("#"))
        return {k: self.base[k] + int(float(samples.get(name, 0))) for k, name in self.NAMES.items()}

    def restart_receiver(self, agent):
        """With the agent frozen nothing reaches the receiver between the last reading of its
        counters and its kill, so the sums stay exact."""
        os.kill(agent.proc.pid, signal.SIGSTOP)
        try:
            self.base = self.now()
            self.receiver.kill9()
            self.receiver.start()
        finally:
            os.kill(agent.proc.pid, signal.SIGCONT)


def generate(path):
    """SIZE random bytes written in 1 MiB pieces; returns their SHA-256."""
    digest = hashlib.sha256()
    with open(path, "wb") as f:
        left = SIZE
        while left:
            chunk = os.urandom(min(left, MiB))
            digest.update(chunk)
            f.write(chunk)
            left -= len(chunk)
    return digest.hexdigest()


def wait_counter(counters, what, name, above, timeout=60):
    """Until counter `name` exceeds `above` or the upload completed; the counters then."""
    now = {}

    def moved():
        now.update(counters.now())
        return now[name] > above or now["completed"]
    wait_until(what, moved, timeout, step=0.03)
    return now


def kill_during_upload(agent, counters, rng):
    """Kills the agent at a random moment of the part after one stored since its start, so
    every life moves the upload on by about one part; restarts the receiver after
    half the kills. The first life times a part. Returns the kills made."""
    first = wait_counter(counters, "the first part stored", "stored", 0, timeout=120)
    second = wait_counter(counters, "the second part stored", "stored", first["stored"])
    t0 = time.time()
    third = wait_counter(counters, "the third part stored", "stored", second["stored"])
    part_seconds = min(2.0, max(0.05, time.time() - t0))
    kills, deadline = 0, time.time() + 240
    now = third
    while kills < KILLS and not now["completed"] and time.time() < deadline:
        # The agent begins the next part as soon as one is stored: this lands within it.
        time.sleep(rng.uniform(0, 0.6 * part_seconds))
        agent.kill9()
        kills += 1
        agent.start()
        if kills == KILLS // 2:
            counters.restart_receiver(agent)
        now = wait_counter(counters, "a part stored since the restart", "stored",
                           counters.now()["stored"])
    return kills, part_seconds


def object_sha256(receiver):
    """(key, SHA-256, metadata) of the one file object, read back from the receiver's S3 API."""
    s3 = boto3_client(receiver.endpoint)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="granary",
                                                Prefix="granary/h017/files/").get("Contents", [])]
    check(len(keys) == 1, f"file objects {keys}")
    got = s3.get_object(Bucket="granary", Key=keys[0])
    digest, size = hashlib.sha256(), 0
    for chunk in got["Body"].iter_chunks(MiB):
        digest.update(chunk)
        size += len(chunk)
    check(size == SIZE, f"GET returned {size} bytes of {SIZE}")
    return keys[0], digest.hexdigest(), got["Metadata"]


def run(agent, receiver, box, rng):
    source = os.path.join(receiver.dir, "trace.bin")
    want = generate(source)
    receiver.start()
    agent.start()
    agent.wait_ready()
    counters = Counters(receiver)
    started = time.time()
    put_started = time.time()
    os.rename(source, os.path.join(box, "trace.bin"))  # the producer contract: renamed in
    kills, part_seconds = kill_during_upload(agent, counters, rng)
    check(kills >= KILLS, f"only {kills} kills: the upload finished first")
    wait_until("the multipart upload completed", lambda: counters.now()["completed"] >= 1, 180,
               step=0.2)
    elapsed = time.time() - put_started
    wait_until("the agent recorded the upload",
               lambda: agent.db("SELECT count(*) FROM outbox WHERE state = 'uploaded'")[0][0] == 1,
               30, step=0.2)
    final = counters.now()
    key, got, meta = object_sha256(receiver)
    check(got == want, f"{key}: SHA-256 {got}, the file's is {want}")
    check(meta.get("granary-sha256") == want, f"{key}: metadata {meta}")
    # Completed in the receiver's second life, whose counters start at 0: indexed once.
    indexed = receiver.metric("granary_receiver_files_indexed_total")
    check(indexed == 1, f"the file indexed {indexed} times")
    # Each kill cuts at most the part in flight, which goes again; so may the part the
    # receiver's kill cut. A stored part whose answer the kill lost is adopted, not re-sent.
    resent = final["requests"] - PARTS
    check(final["requests"] >= PARTS, f"{final['requests']} UploadPart requests for {PARTS} parts")
    check(resent <= kills + 1, f"{resent} parts re-sent over {kills} agent kills and one "
          f"receiver restart ({final})")
    check(final["completed"] == 1, f"{final['completed']} multipart uploads completed")
    uploads = boto3_client(receiver.endpoint).list_multipart_uploads(Bucket="granary",
                                                                     Prefix="granary/h017/")
    check(not uploads.get("Uploads"), f"multipart uploads left open: {uploads.get('Uploads')}")
    for table in ("multipart_uploads", "multipart_parts"):
        rows = agent.db(f"SELECT count(*) FROM {table}")[0][0]
        check(rows == 0, f"{rows} rows left in the agent's {table}")
    check(not os.path.exists(os.path.join(box, "trace.bin")), "the original stays after capture")
    check(agent.stop() == 0, "agent stop")
    print(f"e2e_resume: {SIZE / MiB:.0f} MiB in {PARTS} parts, {kills} agent kills and one receiver "
          f"restart (a part took {part_seconds:.2f} s): complete after {elapsed:.1f} s ({time.time() - started:.1f} s with the checks), "
          f"{final['requests']} UploadPart requests ({resent} re-sent), "
          f"{final['stored']} parts stored, SHA-256 equal")


def main():
    seed = random.randrange(1 << 32)
    print(f"seed {seed}")
    rng = random.Random(seed)
    receiver, upload = fixed_port_receiver()
    with open(receiver.config, "a") as f:
        f.write('[[kind]]\nname = "trace"\n')
    box = os.path.join(receiver.dir, "outbox")
    # The cap spreads a part over about a third of a second, long enough to aim a kill at.
    agent = Agent(upload + 'part_size = "8MiB"\nmax_bandwidth = "24MiB"\n\n'
                  f'[[outbox]]\nname = "traces"\npath = "{box}"\nkind = "trace"\n', device="h017")
    with agent_and_receiver(agent, receiver):
        run(agent, receiver, box, rng)


if __name__ == "__main__":
    main()
