"""The signature-verifying S3 server (Swift + s3api, tests/sim/s3_server.sh) and the fault
proxy (tests/sim/fault_proxy.py), started on loopback for one test, plus a boto3 view of
the bucket to check what the agent stored."""
import json
import os
import subprocess
import tempfile
import urllib.request

from harness import SOURCE_DIR, check

SIM = os.path.join(SOURCE_DIR, "tests", "sim")
CLEAN_AWS_ENV = {"AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
                 "AWS_EC2_METADATA_DISABLED": "true"}


class S3Server:
    def __init__(self, bucket="granary-test"):
        self.dir = tempfile.mkdtemp(prefix="granary-s3-")
        self.bucket = bucket
        r = subprocess.run(["bash", os.path.join(SIM, "s3_server.sh"), "start", self.dir, bucket],
                           capture_output=True, text=True, timeout=900)
        check(r.returncode == 0, f"S3 server did not start:\n{r.stdout}\n{r.stderr}")
        line = [l for l in r.stdout.splitlines() if l.startswith("S3_ENDPOINT=")][-1]
        fields = dict(kv.split("=", 1) for kv in line.split())
        self.endpoint = fields["S3_ENDPOINT"]
        self.access_key = fields["S3_ACCESS_KEY"]
        self.secret_key = fields["S3_SECRET_KEY"]
        self.region = fields["S3_REGION"]

    def stop(self):
        subprocess.run(["bash", os.path.join(SIM, "s3_server.sh"), "stop", self.dir],
                       capture_output=True, timeout=120)

    def objects(self, prefix=""):
        """{key: (bytes, metadata)} of every object, read back with Debian's boto3."""
        script = r"""
import boto3, json, sys, base64
from botocore.config import Config
ep, ak, sk, region, bucket, prefix = sys.argv[1:7]
s3 = boto3.client('s3', endpoint_url=ep, region_name=region, aws_access_key_id=ak,
                  aws_secret_access_key=sk,
                  config=Config(signature_version='s3v4', s3={'addressing_style': 'path'}))
out = {}
for page in s3.get_paginator('list_objects_v2').paginate(Bucket=bucket, Prefix=prefix):
    for o in page.get('Contents', []):
        g = s3.get_object(Bucket=bucket, Key=o['Key'])
        out[o['Key']] = {'body': base64.b64encode(g['Body'].read()).decode(),
                         'meta': g['Metadata'], 'etag': g['ETag'].strip('"')}
print(json.dumps(out))
"""
        r = subprocess.run(["/usr/bin/python3", "-c", script, self.endpoint, self.access_key,
                            self.secret_key, self.region, self.bucket, prefix],
                           capture_output=True, text=True, env=dict(os.environ, **CLEAN_AWS_ENV),
                           timeout=300)
        check(r.returncode == 0, f"listing the bucket failed: {r.stderr}")
        import base64
        return {k: (base64.b64decode(v["body"]), v["meta"], v["etag"])
                for k, v in json.loads(r.stdout).items()}


class FaultProxy:
    def __init__(self, target_url):
        host_port = target_url.split("://", 1)[1]
        self.proc = subprocess.Popen(["/usr/bin/python3", os.path.join(SIM, "fault_proxy.py"),
                                      "--target", host_port], stdout=subprocess.PIPE, text=True)
        fields = dict(kv.split("=", 1) for kv in self.proc.stdout.readline().split())
        self.port = int(fields["PROXY_PORT"])
        self.control = int(fields["CONTROL_PORT"])
        self.url = f"http://127.0.0.1:{self.port}"

    def mode(self, name, **params):
        query = "&".join(f"{k}={v}" for k, v in params.items())
        url = f"http://127.0.0.1:{self.control}/mode/{name}" + (f"?{query}" if query else "")
        urllib.request.urlopen(urllib.request.Request(url, method="POST"), timeout=10).read()

    def stats(self):
        return json.loads(urllib.request.urlopen(f"http://127.0.0.1:{self.control}/stats",
                                                 timeout=10).read())

    def close(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def upload_config(endpoint, bucket, extra="", credentials_file=None, prefix="fleet"):
    creds = f'credentials_file = "{credentials_file}"\n' if credentials_file else ""
    return f"""
[upload]
endpoint = "{endpoint}"
bucket = "{bucket}"
region = "us-east-1"
prefix = "{prefix}"
retry_min = "200ms"
retry_max = "2s"
stall_timeout = "5s"
connect_timeout = "2s"
{creds}{extra}
"""
