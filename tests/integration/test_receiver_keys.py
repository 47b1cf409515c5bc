"""Keys the store cannot hold are refused up front with 400 InvalidObjectName, never indexed:
a key that is another key followed by '/' (either arrival order) would need a file and a
directory of one name; before, the index committed, the move failed with 500 on every retry
and coverage claimed seqs whose bytes were never stored."""
from harness import check
from receiver_harness import Receiver, boto3_client, run_receivers, s3_error_code, segment


def put(s3, key, first, last):
    _, body, meta = segment("h017", "col", first, last)
    return s3_error_code(lambda: s3.put_object(Bucket="granary", Key=key, Body=body, Metadata=meta))


def test_prefix_clash(r, s3):
    for parent, child in (("granary/h017/col/a", "granary/h017/col/a/b"),
                          ("granary/h017/col/c/d", "granary/h017/col/c")):
        check(put(s3, parent, 1 if parent.endswith("a") else 11, 3 if parent.endswith("a") else 13)
              is None, f"{parent} refused")
        first = 4 if parent.endswith("a") else 14
        code = put(s3, child, first, first + 2)
        check(code == ("InvalidObjectName", 400), f"{child} after {parent}: {code}")
        check(put(s3, child, first, first + 2) == ("InvalidObjectName", 400), "retry differs")
    cov = r.coverage("h017", "col")
    check(cov["ranges"] == [[1, 3], [11, 13]], f"coverage claims unstored seqs: {cov}")
    check(r.cli("verify").returncode == 0, "verify after refused keys")


def main():
    r = Receiver().start()
    run_receivers([r], lambda: test_prefix_clash(r, boto3_client(r.endpoint)), "receiver keys")


if __name__ == "__main__":
    main()
