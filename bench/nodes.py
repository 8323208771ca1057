"""Storeroom nodes on one PostgreSQL: CPU per request per node as nodes are added (1 → 2 → 3).

On a 2-core machine, more nodes cannot mean more requests per second (they share the same two cores with the
database and the load generator); what this measures is what each request costs each part of the system —
a node's CPU per request, PostgreSQL's CPU per request — and whether adding nodes changes it (it must not: the
nodes never talk to each other on a request's way, only through the database).  The scaling model in
bench/RESULTS.md is built on these numbers.

    python -m bench.nodes [--nodes 1,2,3] [--workload head|get|put] [--duration 5] [--connections 8]

Each node is ``storeroom serve --meta … --workers 1``; the load generator (bench.loadgen: presigned 4 KiB
requests over keep-alive connections) splits its connections between the nodes, as a load balancer would.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from bench.targets import BUCKET, REPO_ROOT, StoreroomTarget, s3_client

sys.path.insert(0, str(REPO_ROOT))
from tests.pg import PostgresCluster, find_bin_dir  # noqa: E402

KEYS = 500
BODY = os.urandom(4096)


class Node(StoreroomTarget):
    name = "node"

    def __init__(self, workdir: Path, url: str, blobs: Path, master_key: str) -> None:
        super().__init__(workdir, workers=1)
        self.url, self.blobs, self.master_key = url, blobs, master_key

    def command(self) -> list[str]:
        return [*super().command(), "--meta", self.url, "--blobs", f"file://{self.blobs}", "--console-listen",
                "off"]

    def env(self) -> dict[str, str]:
        return {**super().env(), "STOREROOM_MASTER_KEY": self.master_key}

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(self.command(), cwd=self.cwd(), env=self.env(), stdout=subprocess.DEVNULL,
                                     stderr=open(self.log_path, "ab"), start_new_session=True)  # noqa: SIM115
        self._wait_ready(time.monotonic() + 60)


def _cpu(processes: list[psutil.Process]) -> dict[int, float]:
    """CPU seconds so far of each process."""
    out = {}
    for p in processes:
        try:
            t = p.cpu_times()
            out[p.pid] = t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return out


def _spent(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU used between two readings (processes started in between count whole: new database backends)."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def _tree(pid: int | None) -> list[psutil.Process]:
    if pid is None:
        return []
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _url_file(node: Node, workdir: Path, method: str) -> Path:
    client = s3_client(node.endpoint)
    operation = {"GET": "get_object", "HEAD": "head_object", "PUT": "put_object"}[method]
    path = workdir / f"urls-{node.port}-{method}.txt"
    lines = []
    for i in range(KEYS):
        url = client.generate_presigned_url(operation, Params={"Bucket": BUCKET, "Key": f"k{i:04d}"},
                                            ExpiresIn=3600)
        lines.append(url[len(node.endpoint):] + "\n")
    path.write_text("".join(lines))
    return path


def run(count: int, method: str, duration: float, connections: int, workdir: Path,
        cluster: PostgresCluster) -> dict[str, Any]:
    url = cluster.database(f"nodes{count}")
    blobs = workdir / f"blobs{count}"
    blobs.mkdir()
    master_key = base64.b64encode(os.urandom(32)).decode()
    nodes = [Node(workdir / f"n{count}-{i}", url, blobs, master_key) for i in range(count)]
    try:
        for node in nodes:
            node.start()
        s3 = s3_client(nodes[0].endpoint)
        s3.create_bucket(Bucket=BUCKET)
        for i in range(KEYS):
            s3.put_object(Bucket=BUCKET, Key=f"k{i:04d}", Body=BODY)
        files = [_url_file(n, workdir, method) for n in nodes]
        before = [_cpu(n.processes()) for n in nodes], _cpu(_tree(cluster.postmaster_pid()))
        procs = [subprocess.Popen(
            [sys.executable, "-m", "bench.loadgen", "--port", str(n.port), "--urls", str(f), "--method", method,
             "--body-bytes", str(len(BODY) if method == "PUT" else 0), "--connections",
             str(max(1, connections // count)), "--processes", "1", "--duration", str(duration)],
            cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) for n, f in zip(nodes, files,
                                                                                                     strict=True)]
        outputs = [p.communicate(timeout=duration + 120)[0] for p in procs]
        after = [_cpu(n.processes()) for n in nodes], _cpu(_tree(cluster.postmaster_pid()))
        stats = [json.loads(next(line[len("BENCH_JSON "):] for line in out.splitlines()
                                 if line.startswith("BENCH_JSON "))) for out in outputs]
        requests = [int(s["requests"]) for s in stats]
        node_cpu = [_spent(b, a) for a, b in zip(after[0], before[0], strict=True)]
        return {
            "nodes": count, "method": method, "requests_per_s": sum(requests) / duration,
            "node_cpu_us_per_request": [round(c / r * 1e6, 1) if r else None for c, r in zip(node_cpu, requests,
                                                                                             strict=True)],
            "postgres_cpu_us_per_request": round(_spent(before[1], after[1]) / max(sum(requests), 1) * 1e6, 1),
            "errors": sum(int(s[k]) for s in stats for k in ("connect_errors", "read_errors", "write_errors",
                                                                 "status_errors", "timeouts")),
        }
    finally:
        for node in nodes:
            node.stop()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--nodes", default="1,2,3")
    p.add_argument("--workload", default="head", choices=["head", "get", "put"])
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--connections", type=int, default=12)
    args = p.parse_args()
    bin_dir = find_bin_dir()
    if bin_dir is None:
        sys.exit("PostgreSQL is not installed (apt-get install postgresql)")
    workdir = Path(tempfile.mkdtemp(prefix="storeroom-nodes-"))
    cluster = PostgresCluster(bin_dir, fsync=True)
    cluster.init()
    cluster.start()
    try:
        for count in (int(n) for n in args.nodes.split(",")):
            result = run(count, args.workload.upper(), args.duration, args.connections, workdir, cluster)
            print(json.dumps(result), flush=True)
    finally:
        cluster.destroy()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
