"""A certsvc cluster on this machine: PostgreSQL, Redis, API processes and Celery workers.

``make cluster`` runs ``python tools/local_cluster.py``: it starts everything, prints the URLs
and how to try it, and stops everything on Ctrl-C. ``--check`` starts it, drives it once (issue
on one API process, read on the other, a batch import through the workers) and stops: what
``tests/cluster/test_local_cluster.py`` runs. ``bench/cluster.py`` uses ``LocalCluster`` too.

The servers are the throwaway ones the tests use (``tests/servers.py``): data lives in a
temporary directory and is gone after Ctrl-C. docs/deployment.md says what differs on real
machines.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from tests.servers import PostgresServer, RedisServer, free_port  # noqa: E402

__all__ = ["LocalCluster", "main"]

CERTSVC = Path(sys.executable).parent / "certsvc"


class LocalCluster:
    """Servers and certsvc processes of one cluster; ``stop`` ends every one of them."""

    def __init__(
        self,
        *,
        api_processes: int = 2,
        workers: int = 2,
        worker_concurrency: int = 1,
        job_engine: str = "celery",
        database: str = "postgresql",
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="certsvc-cluster-"))
        self.api_processes = api_processes
        self.workers = workers
        self.worker_concurrency = worker_concurrency
        self.job_engine = job_engine
        self.database = database
        self.extra_env = extra_env or {}
        self.postgres: PostgresServer | None = None
        self.redis: RedisServer | None = None
        self.processes: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.api_urls: list[str] = []
        self.env: dict[str, str] = {}

    def start(self) -> LocalCluster:
        env = {
            **os.environ,
            "CERTSVC_HOME": str(self.base / "home"),
            "CERTSVC_PUBLIC_URL": "http://127.0.0.1",
            "CERTSVC_KEY_PASSPHRASE": secrets.token_urlsafe(24),
            "CERTSVC_JOB_ENGINE": self.job_engine,
            "CERTSVC_PUBLIC_RATE_LIMIT_PER_MINUTE": "0",
            **self.extra_env,
        }
        if self.database == "postgresql":
            self.postgres = PostgresServer(durable=True).start()
            env["CERTSVC_DATABASE_URL"] = self.postgres.create_database("certsvc")
            # Every node reaches the same signed files and seal keys through the database.
            env.setdefault("CERTSVC_BLOB_STORE", "database")
            env.setdefault("CERTSVC_KEY_STORE", "database")
        if self.job_engine == "celery" or self.api_processes > 1:
            self.redis = RedisServer().start()
            env["CERTSVC_BROKER_URL"] = self.redis.url
        self.env = env
        subprocess.run([str(CERTSVC), "init"], env=env, check=True, capture_output=True)
        for _ in range(self.api_processes):
            self.start_api()
        for _ in range(self.workers if self.job_engine == "celery" else 0):
            self.start_worker()
        for url in self.api_urls:
            self.wait_ready(url)
        return self

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = (self.base / f"{name}.log").open("ab")
        process = subprocess.Popen([str(CERTSVC), *args], env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.processes.append((name, process))
        return process

    def start_api(self) -> str:
        port = free_port()
        self._spawn(f"api-{port}", ["serve", "--host", "127.0.0.1", "--port", str(port)])
        url = f"http://127.0.0.1:{port}"
        self.api_urls.append(url)
        return url

    def start_worker(self) -> subprocess.Popen[bytes]:
        number = sum(1 for name, _ in self.processes if name.startswith("worker"))
        return self._spawn(f"worker-{number}", ["worker", "--concurrency", str(self.worker_concurrency), "--loglevel", "WARNING"])

    def wait_ready(self, url: str, *, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"{url} is not ready after {timeout:.0f} s; see the logs in {self.base}")

    @property
    def credentials(self) -> dict[str, Any]:
        return dict(json.loads((self.base / "home" / "demo-credentials.json").read_text()))

    def stop(self) -> None:
        for _, process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 30
        for _, process in self.processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(process.pid, signal.SIGKILL)  # whatever is left of it (a worker's pool)
            except ProcessLookupError:
                pass
            process.wait()
        if self.redis is not None:
            self.redis.stop()
        if self.postgres is not None:
            self.postgres.stop()
        shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> LocalCluster:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def check(cluster: LocalCluster) -> None:
    """Drive the cluster once: what a person trying it would do first."""
    department = cluster.credentials["departments"][0]
    headers = {"Authorization": f"Bearer {department['api_key']}"}
    first, second = cluster.api_urls[0], cluster.api_urls[-1]
    sample = json.loads((ROOT / "templates" / "food-business-licence" / "sample.json").read_text(encoding="utf-8"))
    issued = httpx.post(f"{first}/api/v1/certificates", json=sample, headers=headers, timeout=120)
    issued.raise_for_status()
    identifier = issued.json()["identifier"]
    read = httpx.get(f"{second}/api/v1/certificates/{identifier}", headers=headers, timeout=60)
    read.raise_for_status()
    print(f"issued {identifier} on {first}, read it on {second}")
    records = cluster.base / "records.csv"
    with (ROOT / "templates" / "food-business-licence" / "sample.csv").open(encoding="utf-8") as fh:
        rows = list(csv.reader(fh))[:4]
    with records.open("w", encoding="utf-8", newline="") as out:
        csv.writer(out).writerows(rows)
    done = subprocess.run(
        [str(CERTSVC), "batch", "import", str(records), "--template", "food-business-licence",
         "--department", department["code"], "--execute", "--json"],
        env=cluster.env, capture_output=True, text=True, timeout=600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the batch import failed: {done.stdout}\n{done.stderr}")
    summary = json.loads(done.stdout)["job"]
    print(f"batch import through the workers: {summary.get('state')}, {summary.get('done')} done")
    if summary.get("state") != "completed" or summary.get("done") != len(rows) - 1:
        raise RuntimeError(f"the batch import did not complete: {summary}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api", type=int, default=2, help="API processes (default 2)")
    parser.add_argument("--workers", type=int, default=2, help="Celery workers (default 2)")
    parser.add_argument("--check", action="store_true", help="start, drive it once, stop")
    args = parser.parse_args()
    print("starting PostgreSQL, Redis, certsvc init ...", flush=True)
    with LocalCluster(api_processes=args.api, workers=args.workers) as cluster:
        assert cluster.postgres is not None and cluster.redis is not None
        print(f"PostgreSQL   {cluster.env['CERTSVC_DATABASE_URL']}")
        print(f"Redis        {cluster.redis.url}")
        for url in cluster.api_urls:
            print(f"API          {url}   (OpenAPI: {url}/docs, health: {url}/readyz)")
        print(f"workers      {args.workers} × `certsvc worker`; logs in {cluster.base}")
        print(f"API keys     {cluster.base / 'home' / 'demo-credentials.json'}")
        if args.check:
            check(cluster)
            return
        env_file = cluster.base / "cluster.env"
        env_file.touch(mode=0o600)
        env_file.write_text("".join(f"{k}={v}\n" for k, v in cluster.env.items() if k.startswith("CERTSVC_")))
        print(f"\nthe CLI as a node of it:  set -a; . {env_file}; set +a")
        print("then e.g. `certsvc batch import FILE --template … --department … --execute` runs on the workers.")
        print("Ctrl-C stops everything (and the data is gone).", flush=True)
        try:
            signal.pause()
        except KeyboardInterrupt:
            print("\nstopping ...", flush=True)


if __name__ == "__main__":
    main()
