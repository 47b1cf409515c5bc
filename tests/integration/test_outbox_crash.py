"""The outbox under kill -9: a producer renames files into the outbox while the agent is
killed with SIGKILL at random points (12 kills) and restarted. At the end every file is in
the bucket exactly once with its bytes, none is lost, and none is left in the outbox; an
original is removed only after its capture (a file removed uncaptured would be missing)."""
import os
import random
import signal
import threading
import time

from harness import Agent, check
from s3peer import S3Server, upload_config

FILES = 80
KILLS = 12


def main():
    rng = random.Random(1414)
    s3 = S3Server()
    box = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"granary-outbox-crash-{os.getpid()}")
    try:
        agent = Agent(upload_config(s3.endpoint, s3.bucket) + f"""
[[outbox]]
name = "clips"
path = "{box}"
rescan = "1s"
""", env={"AWS_ACCESS_KEY_ID": s3.access_key, "AWS_SECRET_ACCESS_KEY": s3.secret_key})
        os.makedirs(box)
        sent = {}
        done = threading.Event()

        def produce():
            prng = random.Random(7)
            for i in range(FILES):
                name = f"clip-{i:03}.bin"
                data = prng.randbytes(prng.choice([0, 10, 4096, 100_000, 700_000]))
                tmp = os.path.join(box, "." + name)
                with open(tmp, "wb") as f:
                    f.write(data)
                    os.fsync(f.fileno())
                os.rename(tmp, os.path.join(box, name))
                sent[name] = data
                time.sleep(prng.uniform(0.02, 0.15))
            done.set()

        producer = threading.Thread(target=produce)
        agent.start()
        producer.start()
        t0 = time.time()
        for _ in range(KILLS):
            time.sleep(rng.uniform(0.1, 1.2))
            agent.kill9()
            time.sleep(rng.uniform(0, 0.2))
            agent.start()
        producer.join(timeout=60)
        check(done.is_set(), "the producer finished")
        print(f"{KILLS} kills in {time.time() - t0:.1f} s while {FILES} files were renamed in")

        deadline = time.time() + 40
        while time.time() < deadline:
            left = [n for n in os.listdir(box) if not n.startswith(".")]
            pending = agent.db("SELECT count(*) FROM outbox WHERE state = 'pending'")[0][0]
            if not left and pending == 0:
                break
            time.sleep(0.5)
        check(not left, f"originals never taken: {left}")
        check(pending == 0, f"{pending} entries still pending")
        objects = s3.objects("fleet/h017/files/")
        by_name = {}
        for key, (body, meta, _) in objects.items():
            by_name.setdefault(key.rsplit("/", 1)[1], []).append((key, body))
        missing = sorted(set(sent) - set(by_name))
        check(not missing, f"lost: {missing}")
        twice = {n: [k for k, _ in v] for n, v in by_name.items() if len(v) != 1}
        check(not twice, f"uploaded more than once: {twice}")
        for name, [(key, body)] in by_name.items():
            check(body == sent[name], f"{key}: bytes differ")
        rows = agent.db("SELECT count(*) FROM outbox")[0][0]
        check(rows == FILES, f"{rows} catalog rows for {FILES} files")
        orphans = os.path.join(agent.state, "outbox", ".orphans")
        print(f"all {FILES} files uploaded exactly once; "
              f"{len(os.listdir(orphans)) if os.path.isdir(orphans) else 0} orphan copies kept")
        check(agent.stop() == 0, "stop")
    finally:
        s3.stop()


if __name__ == "__main__":
    main()
