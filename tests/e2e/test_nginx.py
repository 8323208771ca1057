"""docs/load-balancer.md's nginx configuration, run in front of a Storeroom node: boto3 through it (a PUT, a
multipart upload, an aws-chunked signed upload, ranged and streamed downloads, virtual-hosted style) and
aws:SourceIp policies that see the client's address, not nginx's.

nginx (Debian's package; `.ci/run` installs it when missing) connects to Storeroom from 127.0.0.3
(``proxy_bind``, added by the test), the only address Storeroom trusts; the clients connect from 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from tests.conftest import StoreroomServer, free_port, make_client
from tests.e2e.helpers import MiB, streaming_signed_put

DOC = Path(__file__).resolve().parents[2] / "docs" / "load-balancer.md"
PROXY_ADDRESS = "127.0.0.3"


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)


def documented_config(upstream_port: int, listen_port: int) -> str:
    """The first ```nginx block of the doc, aimed at the test's addresses."""
    block = re.search(r"```nginx\n(.*?)```", DOC.read_text(), re.S)
    assert block is not None, "docs/load-balancer.md has no nginx configuration"
    config = block.group(1)
    servers = re.findall(r"^\s*server \d+\.\d+\.\d+\.\d+:\d+;\n", config, re.M)
    assert len(servers) == 2
    config = config.replace(servers[0], f"    server 127.0.0.1:{upstream_port};\n").replace(servers[1], "")
    assert "    listen 80;\n" in config
    return config.replace("    listen 80;\n", f"    listen 127.0.0.1:{listen_port};\n"
                                               f"    proxy_bind {PROXY_ADDRESS};\n")


class Nginx:
    def __init__(self, workdir: Path, config: str, port: int) -> None:
        self.workdir, self.port = workdir, port
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (workdir / sub).mkdir(parents=True, exist_ok=True)
        user = "user root;\n" if os.geteuid() == 0 else ""
        (workdir / "nginx.conf").write_text(
            f"{user}worker_processes 1;\ndaemon off;\npid {workdir}/nginx.pid;\nerror_log {workdir}/error.log info;\n"
            "events { worker_connections 256; }\n"
            f"http {{\n  access_log {workdir}/access.log;\n  client_body_temp_path {workdir}/body;\n"
            f"  proxy_temp_path {workdir}/proxy;\n  fastcgi_temp_path {workdir}/fastcgi;\n"
            f"  uwsgi_temp_path {workdir}/uwsgi;\n  scgi_temp_path {workdir}/scgi;\n{config}\n}}\n")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, binary: str) -> None:
        log = open(self.workdir / "stderr.log", "ab")  # noqa: SIM115 - kept open for the child's lifetime
        self.proc = subprocess.Popen([binary, "-p", str(self.workdir), "-c", str(self.workdir / "nginx.conf"),
                                      "-e", str(self.workdir / "error.log")],
                                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited: {(self.workdir / 'error.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/_storeroom/ready", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("nginx did not come up")

    def stop(self) -> None:
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc = None


@pytest.fixture(scope="module")
def behind_nginx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = nginx_binary()
    if binary is None:
        pytest.skip("nginx is not installed (apt-get install -y nginx; .ci/run does it)")
    server = StoreroomServer(tmp_path_factory.mktemp("nginx-node") / "data",
                             extra_args=["--trusted-proxies", f"{PROXY_ADDRESS}/32"])
    server.start()
    port = free_port()
    nginx = Nginx(tmp_path_factory.mktemp("nginx"), documented_config(server.port, port), port)
    try:
        nginx.start(binary)
        yield f"http://127.0.0.1:{port}"
    finally:
        nginx.stop()
        server.stop()


def test_uploads_and_downloads_stream_through(behind_nginx: str) -> None:
    s3 = make_client(behind_nginx)
    bucket = f"lb-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="small", Body=b"through nginx")
    assert s3.get_object(Bucket=bucket, Key="small")["Body"].read() == b"through nginx"

    big = os.urandom(13 * MiB + 5)
    config = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB, max_concurrency=3)
    s3.upload_fileobj(io.BytesIO(big), bucket, "multi", Config=config)
    head = s3.head_object(Bucket=bucket, Key="multi")
    assert head["ContentLength"] == len(big) and head["ETag"].endswith('-3"')
    out = io.BytesIO()
    s3.download_fileobj(bucket, "multi", out, Config=config)  # ranged GETs, in parallel
    assert hashlib.md5(out.getvalue()).digest() == hashlib.md5(big).digest()
    got = s3.get_object(Bucket=bucket, Key="multi", Range="bytes=5242870-5242889")["Body"].read()
    assert got == big[5242870:5242890]
    streamed = hashlib.md5()
    for chunk in s3.get_object(Bucket=bucket, Key="multi")["Body"].iter_chunks(MiB):
        streamed.update(chunk)
    assert streamed.digest() == hashlib.md5(big).digest()

    # aws-chunked, each chunk signed (STREAMING-AWS4-HMAC-SHA256-PAYLOAD): the signatures are over the bytes
    # nginx passes on unchanged
    data = os.urandom(300 * 1024)
    r = streaming_signed_put(behind_nginx, bucket, "chunked", data, chunk_size=64 * 1024)
    assert r.status_code == 200, r.content
    assert s3.get_object(Bucket=bucket, Key="chunked")["Body"].read() == data


def test_virtual_hosted_style_through_the_host_header(behind_nginx: str) -> None:
    s3 = make_client(behind_nginx)
    bucket = f"lbv-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    port = behind_nginx.rsplit(":", 1)[1]
    vs3 = make_client(f"http://localhost:{port}", s3={"addressing_style": "virtual"})

    def reroute(request, **_):  # type: ignore[no-untyped-def]  # *.localhost may not resolve here
        host = request.url.split("://", 1)[1].split("/", 1)[0]
        request.headers["Host"] = host
        request.url = request.url.replace(f"://{host}", f"://127.0.0.1:{port}", 1)

    vs3.meta.events.register("before-send.s3", reroute)
    vs3.put_object(Bucket=bucket, Key="v key", Body=b"virtual")
    assert vs3.get_object(Bucket=bucket, Key="v key")["Body"].read() == b"virtual"
    assert s3.get_object(Bucket=bucket, Key="v key")["Body"].read() == b"virtual"


def test_source_ip_policies_see_the_client(behind_nginx: str) -> None:
    root = make_client(behind_nginx)
    iam = make_client(behind_nginx, service="iam")

    def user_limited_to(cidr: str):  # type: ignore[no-untyped-def]
        name = f"lb-{uuid.uuid4().hex[:8]}"
        iam.create_user(UserName=name)
        iam.put_user_policy(UserName=name, PolicyName="from-there", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*",
                                                    "Condition": {"IpAddress": {"aws:SourceIp": cidr}}}]}))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return make_client(behind_nginx, access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])

    bucket = f"lbp-{uuid.uuid4().hex[:8]}"
    root.create_bucket(Bucket=bucket)
    # the client connects from 127.0.0.1; nginx reaches Storeroom from 127.0.0.3
    user_limited_to("127.0.0.1/32").put_object(Bucket=bucket, Key="mine", Body=b"ok")
    with pytest.raises(ClientError) as exc:
        user_limited_to(f"{PROXY_ADDRESS}/32").put_object(Bucket=bucket, Key="proxy", Body=b"no")
    assert exc.value.response["Error"]["Code"] == "AccessDenied"

    # A client's own X-Forwarded-For stays on the left of the address nginx appends: not believed.
    root.put_object(Bucket=bucket, Key="pub", Body=b"public")
    root.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/pub",
         "Condition": {"IpAddress": {"aws:SourceIp": "10.9.9.9/32"}}}]}))
    url = f"{behind_nginx}/{bucket}/pub"
    assert requests.get(url, headers={"X-Forwarded-For": "10.9.9.9"}, timeout=10).status_code == 403
