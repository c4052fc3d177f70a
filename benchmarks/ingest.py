"""Ingest benchmark: POST /api/v2/signals/bulk over HTTP on gunicorn with PostgreSQL, against a raw COPY.

Batches of 1,000 signals with realistic `data`, 20% of them replays of earlier idempotency keys, sent by a
few concurrent keep-alive clients. In the same run, the same rows are COPYed into a bare table: the ratio of
the two rates is the figure to compare across machines (docs/benchmarks.md). Gunicorn worker memory is read
from /proc after the warm-up and at the end.

Gunicorn runs as the Procfile's `web` does (sync workers), with persistent database connections
(`conn_max_age` in DATABASE_URL, as a production deployment sets it; `--conn-max-age 0` opens one per request).
On a shared machine the rates move with everyone else's load, so the CPU time each side spends is read from
/proc as well (gunicorn workers, their PostgreSQL backends, the load generator; for COPY the client and its
backend): CPU ms per 1,000 signals does not depend on what else runs, and neither does their ratio.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tally_bench .venv/bin/python benchmarks/ingest.py
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def manage(*args: str, env: dict) -> str:
    return subprocess.run(
        [PYTHON, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    ).stdout


def make_batches(count: int, size: int, replay_share: float, seed: int = 7) -> list[list[dict]]:
    rng = random.Random(seed)
    sent_keys: list[str] = []
    # One second apart, ending an hour ago: every timestamp is valid however many batches there are (more than
    # 24 hours ahead of now is refused).
    start = datetime.now(UTC) - timedelta(hours=1, seconds=count * size)
    batches = []
    for b in range(count):
        batch = []
        for i in range(size):
            if sent_keys and rng.random() < replay_share:
                key = rng.choice(sent_keys)
            else:
                key = f"evt-{b}-{i}-{uuid.uuid4().hex[:8]}"
                sent_keys.append(key)
            batch.append(
                {
                    "eventName": rng.choice(
                        ["chat_message", "email_sent", "phone_call", "document_processed"]
                    ),
                    "customer": {"externalCustomerId": f"customer-{rng.randrange(1000)}"},
                    "attribution": {"externalProductId": "bench-agent"},
                    "timestamp": (start + timedelta(seconds=b * size + i)).isoformat(),
                    "idempotencyKey": key,
                    "data": {
                        "quantity": rng.randrange(1, 20),
                        "model": rng.choice(["gpt-4o", "claude-sonnet-4", "gemini-2.5-pro"]),
                        "call_completed": rng.random() < 0.8,
                        "duration_minutes": round(rng.random() * 30, 2),
                        "external_user_id": f"user-{rng.randrange(50)}",
                        "dimensions": {
                            "pages": rng.randrange(1, 100),
                            "language": rng.choice(["en", "de", "ja"]),
                        },
                        "tags": ["bench", rng.choice(["a", "b", "c"])],
                    },
                }
            )
        batches.append(batch)
    return batches


def rss_kib(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total


def worker_pids(master: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout
    return [int(pid) for pid in out.split()]


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of live processes (0 for any that is gone or unreadable)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, PermissionError, ProcessLookupError):
            continue
        total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


def backend_pids(admin: psycopg.Connection, database: str) -> list[int]:
    """PostgreSQL backends connected to `database`, other than `admin`'s own."""
    rows = admin.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [database]
    ).fetchall()
    return [pid for (pid,) in rows]


def run_http(url: str, key: str, bodies: list[bytes], clients: int, on_progress) -> tuple[float, dict]:
    totals = {"ingested": 0, "duplicates": 0, "failed": 0}
    lock = threading.Lock()
    cursor = iter(range(len(bodies)))

    def client():
        with httpx.Client(
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"}, timeout=60
        ) as http:
            while True:
                with lock:
                    index = next(cursor, None)
                if index is None:
                    return
                response = http.post(url, content=bodies[index])
                response.raise_for_status()
                body = response.json()
                with lock:
                    for name in totals:
                        totals[name] += body[name]
                    on_progress(index)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, totals


def run_copy(dsn: str, batches: list[list[dict]]) -> tuple[float, float, float]:
    """The same rows (one per signal, replays included: COPY does no de-duplication) into a bare table.
    Returns (seconds, client CPU seconds, backend CPU seconds)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        backend = [conn.execute("SELECT pg_backend_pid()").fetchone()[0]]
        conn.execute("DROP TABLE IF EXISTS bench_raw_signals")
        conn.execute(
            "CREATE TABLE bench_raw_signals (id bigserial primary key, organization_id bigint, display_id text, "
            "event_name text, external_customer_id text, external_product_id text, data jsonb, "
            "timestamp timestamptz, created_at timestamptz, idempotency_key text)"
        )
        started, client_cpu, backend_cpu = time.perf_counter(), time.process_time(), cpu_seconds(backend)
        for batch in batches:
            with (
                conn.transaction(),
                conn.cursor() as cur,
                cur.copy(
                    "COPY bench_raw_signals (organization_id, display_id, event_name, external_customer_id, "
                    "external_product_id, data, timestamp, created_at, idempotency_key) FROM STDIN"
                ) as copy,
            ):
                now = datetime.now(UTC)
                for item in batch:
                    copy.write_row(
                        (
                            1,
                            "sig_" + uuid.uuid4().hex[:16],
                            item["eventName"],
                            item["customer"]["externalCustomerId"],
                            item["attribution"]["externalProductId"],
                            json.dumps(item["data"]),
                            item["timestamp"],
                            now,
                            item["idempotencyKey"],
                        )
                    )
        elapsed = time.perf_counter() - started
        client_cpu, backend_cpu = time.process_time() - client_cpu, cpu_seconds(backend) - backend_cpu
        conn.execute("DROP TABLE bench_raw_signals")
    return elapsed, client_cpu, backend_cpu


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--replays", type=float, default=0.2)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers (the Procfile's default)")
    parser.add_argument(
        "--conn-max-age", type=int, default=600, help="seconds a worker keeps its database connection"
    )
    parser.add_argument("--port", type=int, default=8391)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    dsn_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tally_bench").split("?")[0]
    env = {**os.environ, "DATABASE_URL": dsn_url, "DEBUG": "false", "SECRET_KEY": "bench-" + uuid.uuid4().hex}
    admin = psycopg.connect(dsn_url.rsplit("/", 1)[0] + "/postgres", autocommit=True)
    name = dsn_url.rsplit("/", 1)[1]
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.execute(f'CREATE DATABASE "{name}"')
    manage("migrate", "--noinput", "-v0", env=env)
    created = json.loads(
        manage(
            "create_organization",
            "Bench",
            "--admin-email",
            "bench@example.com",
            "--admin-password",
            "bench-pass-123",
            "--json",
            env=env,
        )
    )
    key = created["apiKey"]

    print(f"generating {args.batches} batches of {args.size} ({args.replays:.0%} replays)...", flush=True)
    batches = make_batches(args.batches, args.size, args.replays)

    web_env = {
        **env,
        "DATABASE_URL": f"{dsn_url}?conn_max_age={args.conn_max_age}&conn_health_checks=true",
    }
    gunicorn = subprocess.Popen(
        [
            PYTHON,
            "-m",
            "gunicorn",
            "config.wsgi",
            "--bind",
            f"127.0.0.1:{args.port}",
            "--workers",
            str(args.workers),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=web_env,
    )
    url = f"http://127.0.0.1:{args.port}/api/v2/signals/bulk"
    try:
        for _ in range(100):
            try:
                httpx.get(f"http://127.0.0.1:{args.port}/api/v2/schema/", timeout=2)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        warmup = 10
        memory = {}

        # CPU of each backend as last seen: a backend that is replaced mid-run keeps what it had used.
        backend_cpu: dict[int, float] = {}

        def sample_backends():
            for pid in backend_pids(admin, name):
                backend_cpu[pid] = max(backend_cpu.get(pid, 0.0), cpu_seconds([pid]))

        def progress(index):
            sample_backends()
            if index == warmup:
                memory["after_warmup_kib"] = rss_kib(worker_pids(gunicorn.pid))
            if index % 20 == 0:
                memory.setdefault("trace", []).append(round(rss_kib(worker_pids(gunicorn.pid)) / 1024, 1))

        bodies = [json.dumps({"signals": batch}).encode() for batch in batches]
        workers = worker_pids(gunicorn.pid)
        # Backends come and go with conn_max_age=0; with persistent connections these are the workers' own.
        sample_backends()
        cpu_before = cpu_seconds(workers), sum(backend_cpu.values()), time.process_time()
        elapsed, totals = run_http(url, key, bodies, args.clients, progress)
        sample_backends()
        cpu = {
            "workers": cpu_seconds(workers) - cpu_before[0],
            "backends": sum(backend_cpu.values()) - cpu_before[1],
            "load_generator": time.process_time() - cpu_before[2],
        }
        memory["end_kib"] = rss_kib(worker_pids(gunicorn.pid))
    finally:
        gunicorn.send_signal(signal.SIGTERM)
        gunicorn.wait(timeout=30)

    admin.close()
    copy_elapsed, copy_client_cpu, copy_backend_cpu = run_copy(dsn_url, batches)
    sent = args.batches * args.size
    http_rate = sent / elapsed
    copy_rate = sent / copy_elapsed

    def per_1000(seconds: float) -> float:
        return round(seconds * 1000 / (sent / 1000), 1)

    # The backends' CPU is only known with persistent connections (a per-request backend exits before it is
    # read); without them, the HTTP side's total leaves PostgreSQL out and the CPU ratio is not reported.
    http_cpu = cpu["workers"] + cpu["backends"] + cpu["load_generator"]
    copy_cpu = copy_client_cpu + copy_backend_cpu
    results = {
        "signals_sent": sent,
        "ingested": totals["ingested"],
        "duplicates": totals["duplicates"],
        "failed": totals["failed"],
        "http_seconds": round(elapsed, 2),
        "http_signals_per_s": round(http_rate),
        "copy_signals_per_s": round(copy_rate),
        "ratio_to_copy": round(http_rate / copy_rate, 3),
        "gunicorn_workers": args.workers,
        "conn_max_age": args.conn_max_age,
        "clients": args.clients,
        "cpu_ms_per_1000_signals": {
            "http_workers": per_1000(cpu["workers"]),
            "http_postgres_backends": per_1000(cpu["backends"]) if args.conn_max_age else None,
            "http_load_generator": per_1000(cpu["load_generator"]),
            "http_total": per_1000(http_cpu),
            "copy_client": per_1000(copy_client_cpu),
            "copy_postgres_backend": per_1000(copy_backend_cpu),
            "copy_total": per_1000(copy_cpu),
        },
        "cpu_ratio_copy_to_http": round(copy_cpu / http_cpu, 3) if args.conn_max_age else None,
        "load_average_1min_at_end": os.getloadavg()[0],
        "worker_rss_after_warmup_mib": round(memory.get("after_warmup_kib", 0) / 1024, 1),
        "worker_rss_end_mib": round(memory["end_kib"] / 1024, 1),
        "worker_rss_every_20_batches_mib": memory.get("trace", []),
        "targets": {"http_signals_per_s": 20000, "ratio_to_copy": 0.25},
    }
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
