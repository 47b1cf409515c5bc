"""The fleet simulator (fleet_sim.py) against 1 receiver, then 2, behind haproxy, over one
PostgreSQL: the filesystem store, the replicas sharing one data_dir (docs/receiver.md,
"Operations"), or with BENCH_FLEET_STORE=s3 the S3 store on Swift+s3api, each replica with
a data_dir of its own. Each run gets a fresh database, data_dir and bucket prefixes; the
segments are generated once.
Prints each run's figures, then the per-segment costs and the 2-vs-1 scaling factor.

usage: fleet_bench.py BUILD_DIR   (bench/fleet.sh; the peers come from tests/integration)"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

from balancer import Balancer  # noqa: E402
from receiver_harness import Postgres, Receiver  # noqa: E402

DEVICES = int(os.environ.get("BENCH_FLEET_DEVICES", "200"))
HOURS = int(os.environ.get("BENCH_FLEET_HOURS", "12"))
SPEED = os.environ.get("BENCH_FLEET_SPEED", "3600")
MAX_SECONDS = os.environ.get("BENCH_FLEET_SECONDS", "45")
HERD = ["--herd"] if os.environ.get("BENCH_FLEET_HERD") else []
STORE = os.environ.get("BENCH_FLEET_STORE", "filesystem")


def receiver_config(data_dir, pg_url, store=""):
    # Behind a balancer every client is 127.0.0.1: the per-address limit would count the
    # whole fleet as one client (docs/receiver.md, `http.per_ip_limit`).
    return (f'data_dir = "{data_dir}"\nlisten = "127.0.0.1:0"\nindex = "{pg_url}"\n'
            f'[http]\nper_ip_limit = 0\n{store}')


def store_section(s3, run_name, work):
    """[store] on the bucket, under prefixes of this run; one registry key for the replicas."""
    return (f'[store]\ntype = "s3"\nendpoint = "{s3.endpoint}"\nregion = "{s3.region}"\n'
            f'bucket = "{s3.bucket}"\naccess_key = "{s3.access_key}"\nsecret_key = "{s3.secret_key}"\n'
            + "".join(f'{k}_prefix = "{run_name}/{k}/"\n'
                      for k in ("accepted", "rejected", "conflicts", "uploads"))
            + f'[registry]\nkey_file = "{os.path.join(work, run_name + ".key")}"\n')


def postmaster_pid(pg):
    with open(os.path.join(pg.data, "postmaster.pid")) as f:
        return int(f.readline())


def run(build, work, pg, replicas, segments_dir, s3=None):
    db = f"fleet{replicas}"
    pg.query(f"CREATE DATABASE {db}")
    url = pg.url.rsplit("/", 1)[0] + "/" + db
    store = store_section(s3, db, work) if s3 else ""

    def data(i):  # shared by the replicas, unless the store is a bucket
        return os.path.join(work, f"data{replicas}" + (f"-{i}" if s3 else ""))

    receivers = [Receiver(workdir=os.path.join(work, f"r{replicas}-{i}"), data_dir=data(i),
                          config_body=receiver_config(data(i), url, store)) for i in range(replicas)]
    balancer = None
    try:
        # The first start creates the schema and the registry key; the others share both.
        for r in receivers:
            r.start()
        balancer = Balancer([r.port for r in receivers], workdir=os.path.join(work, f"haproxy{replicas}")).start()
        out = os.path.join(work, f"fleet{replicas}.json")
        argv = [sys.executable, os.path.join(HERE, "fleet_sim.py"), "--endpoint", balancer.endpoint,
                "--receiver-bin", os.path.join(build, "receiver", "granary-receiver"),
                "--receiver-config", receivers[0].config, "--devices", str(DEVICES), "--hours", str(HOURS),
                "--speed", SPEED, "--max-seconds", MAX_SECONDS, "--segments-dir", segments_dir,
                "--balancer-pid", str(balancer.pid()), "--postmaster-pid", str(postmaster_pid(pg)),
                "--pg-url", url, "--psql", os.path.join(Postgres.BIN, "psql"),
                "--label", f"{replicas} receiver{'s' if replicas > 1 else ''} behind haproxy, {STORE} store",
                "--json", out, *HERD]
        for r in receivers:
            argv += ["--receiver-pid", str(r.proc.pid)]
        sim = subprocess.run(argv, stdout=subprocess.PIPE, text=True)
        sys.stdout.write(subprocess.run(["column", "-t", "-s", "\t"], input=sim.stdout, text=True,
                                        capture_output=True).stdout)
        sys.stdout.flush()
        if sim.returncode != 0:
            for r in receivers:
                print(r.read_log()[-2000:], file=sys.stderr)
            sys.exit(f"fleet_sim failed against {replicas} receiver(s)")
        counted = subprocess.run([os.path.join(Postgres.BIN, "psql"), url, "-At", "-c",
                                  "SELECT count(*) FROM segments"], capture_output=True, text=True, timeout=60)
        with open(out) as f:
            result = json.load(f)
        if counted.stdout.strip() != str(result["accepted"]):
            sys.exit(f"the index holds {counted.stdout.strip() or counted.stderr} segments, {result['accepted']} were accepted")
        return result
    finally:
        if balancer:
            balancer.stop()
        for r in receivers:
            if r.proc:
                r.stop()


def main():
    build = os.path.abspath(sys.argv[1])
    work = tempfile.mkdtemp(prefix="granary-fleet-bench-")
    pg = Postgres()
    s3 = None
    try:
        if STORE == "s3":
            from s3peer import S3Server
            s3 = S3Server(bucket="fleet-bench")
        segments = os.path.join(work, "segments")
        one = run(build, work, pg, 1, segments, s3)
        two = run(build, work, pg, 2, segments, s3)
    finally:
        if s3:
            s3.stop()
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(pg.dir, ignore_errors=True)
    print()
    print("per segment\t1 receiver\t2 receivers")
    for name, key, fmt in (("receiver CPU (ms, all replicas)", "receiver_cpu_ms_per_segment", "{:.2f}"),
                           ("PostgreSQL CPU (ms)", "postgres_cpu_ms_per_segment", "{:.2f}"),
                           ("haproxy CPU (ms)", "balancer_cpu_ms_per_segment", "{:.2f}"),
                           ("PostgreSQL rows", "pg_rows_per_segment", "{:.1f}"),
                           ("PostgreSQL WAL bytes", "pg_wal_bytes_per_segment", "{:,.0f}"),
                           ("PostgreSQL size bytes", "pg_size_bytes_per_segment", "{:,.0f}"),
                           ("PUT body bytes", "bytes_per_segment", "{:,.0f}"),
                           ("readings", "readings_per_segment", "{:.0f}")):
        print(f"{name}\t{fmt.format(one[key])}\t{fmt.format(two[key])}")
    print(f"scaling 2 vs 1 (accepted segments/s)\t{one['segments_per_s']:.1f}\t{two['segments_per_s']:.1f}"
          f" ({two['segments_per_s'] / one['segments_per_s']:.2f}x)")


if __name__ == "__main__":
    main()
