"""Two granary-receiver processes over one PostgreSQL (started by the test, as an
unprivileged user) and one object store ingest concurrently: every segment is PUT to both
at once, from several threads; afterwards each seq is indexed exactly once, same-key
different-bytes races end in one accepted object and one recorded conflict, and `verify`
reports nothing."""
import os
import sys
import threading

from harness import check
from receiver_harness import (Postgres, Receiver, boto3_client, receiver_config, s3_error_code,
                              segment, segment_lines)

SEGMENTS = 60
PER = 100


def main():
    pg = Postgres()
    shared = os.path.join(pg.dir, "store")
    receivers = []
    try:
        for i in range(2):
            r = Receiver(config_body=receiver_config(shared, index=pg.url))
            r.start()
            receivers.append(r)
        clients = [boto3_client(r.endpoint) for r in receivers]
        errors = []

        def put_both(first, body_for):
            barrier = threading.Barrier(2)
            outcomes = [None, None]

            def one(i):
                key, body, meta = body_for(i)
                barrier.wait()
                outcomes[i] = s3_error_code(
                    lambda: boto3_client(receivers[i].endpoint).put_object(
                        Bucket="granary", Key=key, Body=body, Metadata=meta))

            threads = [threading.Thread(target=one, args=(i,)) for i in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            return outcomes

        def worker(firsts):
            for first in firsts:
                outcomes = put_both(first, lambda i: segment("h017", "synth", first, first + PER - 1))
                if outcomes != [None, None]:
                    errors.append(f"segment {first}: {outcomes}")

        firsts = [1 + k * PER for k in range(SEGMENTS)]
        threads = [threading.Thread(target=worker, args=(firsts[j::3],)) for j in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        check(not errors, f"identical concurrent PUTs failed: {errors[:5]}")

        # Same key, different readings, at the same moment on both receivers.
        conflicts = 0
        for n in range(5):
            first = 100001 + n * 10
            outcomes = put_both(first, lambda i: segment(
                "h017", "race", first, first + 9, segment_lines("h017", "race", first, first + 9, ts0=i)))
            check(sorted(map(str, outcomes)) == sorted(["None", "('ObjectConflict', 409)"]),
                  f"race {n}: {outcomes}")
            conflicts += 1

        cov = receivers[0].coverage("h017", "synth")
        last = SEGMENTS * PER
        check(cov["ranges"] == [[1, last]] and cov["readings"] == last and cov["segments"] == SEGMENTS,
              f"coverage after concurrent ingest: {cov}")
        check(pg.query("SELECT count(*) FROM segments") == str(SEGMENTS + 5), "segment rows")
        check(pg.query("SELECT count(*) FROM rejections WHERE kind='conflict'") == str(conflicts),
              "conflict rows")
        check(pg.query("SELECT readings FROM devices WHERE device='h017'") == str(last + 50),
              "device readings counter")
        # PostgreSQL restarts under the receivers: ingest fails with a retryable 500 meanwhile,
        # /healthz says 503, and both reconnect by themselves afterwards.
        pg.stop()
        key, body, meta = segment("h017", "synth", last + 1, last + PER)
        check(s3_error_code(lambda: clients[0].put_object(Bucket="granary", Key=key, Body=body,
                                                          Metadata=meta)) == ("InternalError", 500),
              "PUT with PostgreSQL down did not answer a retryable 500")
        status, _ = receivers[1].api("/healthz", token=None)
        check(status == 503, f"healthz with PostgreSQL down: {status}")
        pg.start()
        for c in clients:  # the first call after the restart may still see the dead connection
            s3_error_code(lambda: c.put_object(Bucket="granary", Key=key, Body=body, Metadata=meta))
        check(s3_error_code(lambda: clients[1].put_object(Bucket="granary", Key=key, Body=body,
                                                          Metadata=meta)) is None,
              "PUT after PostgreSQL came back failed")
        status, _ = receivers[1].api("/healthz", token=None)
        check(status == 200, f"healthz after PostgreSQL came back: {status}")
        check(receivers[0].coverage("h017", "synth")["ranges"] == [[1, last + PER]],
              "coverage after the PostgreSQL restart")
        for r in receivers:
            r.stop()
        v = receivers[0].cli("verify")
        check(v.returncode == 0, f"verify: {v.stdout}\n{v.stderr}")
        print(f"receiver concurrent (2 processes, postgresql): ok, {SEGMENTS} segments PUT to both, "
              f"{conflicts} same-key races")
    except SystemExit:
        for r in receivers:
            print(r.read_log()[-2000:], file=sys.stderr)
        raise
    finally:
        for r in receivers:
            if r.proc:
                r.kill9()
        pg.stop()


if __name__ == "__main__":
    main()
