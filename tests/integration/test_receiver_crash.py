"""The receiver killed at its named crash points (GRANARY_CRASH_POINT): right after a body
is sealed in quarantine, right after its bytes were placed in accepted/ (not yet indexed),
and right after the index committed (the quarantine entry not yet dropped). Each time the client sees a dropped connection, the restarted receiver's
recovery finishes the job, the client's retry is a duplicate, every seq is indexed once and
`verify` is clean."""
import sys

from harness import check
from receiver_harness import Receiver, boto3_client, s3_error_code, segment


def main():
    r = Receiver()
    try:
        first = 1
        for point in ("receiver.after_quarantine", "receiver.after_place", "receiver.after_index"):
            r.start(env={"GRANARY_CRASH_POINT": point})
            key, body, meta = segment("h017", "meter", first, first + 99)
            s3 = boto3_client(r.endpoint)
            r.expect_crash(point, lambda: s3.put_object(Bucket="granary", Key=key, Body=body,
                                                        Metadata=meta))
            r.start()  # recovery runs before it listens
            log = r.read_log()
            check(f"recovered granary/{key} from quarantine" in log, f"{point}: no recovery in the log")
            s3 = boto3_client(r.endpoint)
            check(s3.get_object(Bucket="granary", Key=key)["Body"].read() == body,
                  f"{point}: recovered object differs")
            put = s3.put_object(Bucket="granary", Key=key, Body=body, Metadata=meta)  # the retry
            check(put["ResponseMetadata"]["HTTPHeaders"].get("x-amz-meta-granary-outcome") == "duplicate",
                  f"{point}: the client's retry was not a duplicate")
            r.stop()
            first += 100
        r.start()
        cov = r.coverage("h017", "meter")
        check(cov["ranges"] == [[1, 300]] and cov["readings"] == 300 and cov["segments"] == 3,
              f"coverage {cov}")
        status, events = r.api("/api/v1/events?limit=20")
        check(not [e for e in events["events"] if e["kind"] != "accepted"], f"events {events}")
        r.stop()
        v = r.cli("verify")
        check(v.returncode == 0, f"verify: {v.stdout}{v.stderr}")
        print("receiver crash points: ok")
    except SystemExit:
        print(r.read_log()[-3000:], file=sys.stderr)
        raise
    finally:
        if r.proc:
            r.kill9()


if __name__ == "__main__":
    main()
