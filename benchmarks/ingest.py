"""Ingest benchmark: POST /api/v2/signals/bulk over HTTP on gunicorn with PostgreSQL, against a raw COPY.

Batches of 1,000 signals with realistic `data`, 20% of them replays of earlier idempotency keys, sent by a
few concurrent keep-alive clients. In the same run, the same rows are COPYed into a bare table: the ratio of
the two rates is the figure to compare across machines (docs/benchmarks.md). Gunicorn worker memory is read
from /proc after the warm-up and at the end.

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
    start = datetime.now(UTC) - timedelta(days=1)
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


def run_http(url: str, key: str, batches: list[list[dict]], clients: int, on_progress) -> tuple[float, dict]:
    bodies = [json.dumps({"signals": batch}).encode() for batch in batches]
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


def run_copy(dsn: str, batches: list[list[dict]]) -> float:
    """The same rows (one per signal, replays included: COPY does no de-duplication) into a bare table."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_raw_signals")
        conn.execute(
            "CREATE TABLE bench_raw_signals (id bigserial primary key, organization_id bigint, display_id text, "
            "event_name text, external_customer_id text, external_product_id text, data jsonb, "
            "timestamp timestamptz, created_at timestamptz, idempotency_key text)"
        )
        started = time.perf_counter()
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
        conn.execute("DROP TABLE bench_raw_signals")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--replays", type=float, default=0.2)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--port", type=int, default=8391)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    dsn_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tally_bench")
    env = {**os.environ, "DATABASE_URL": dsn_url, "DEBUG": "false", "SECRET_KEY": "bench-" + uuid.uuid4().hex}
    admin = psycopg.connect(dsn_url.rsplit("/", 1)[0] + "/postgres", autocommit=True)
    name = dsn_url.rsplit("/", 1)[1]
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.execute(f'CREATE DATABASE "{name}"')
    admin.close()
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
        env=env,
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

        def progress(index):
            if index == warmup:
                memory["after_warmup_kib"] = rss_kib(worker_pids(gunicorn.pid))

        elapsed, totals = run_http(url, key, batches, args.clients, progress)
        memory["end_kib"] = rss_kib(worker_pids(gunicorn.pid))
    finally:
        gunicorn.send_signal(signal.SIGTERM)
        gunicorn.wait(timeout=30)

    copy_elapsed = run_copy(dsn_url, batches)
    sent = args.batches * args.size
    http_rate = sent / elapsed
    copy_rate = sent / copy_elapsed
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
        "clients": args.clients,
        "worker_rss_after_warmup_mib": round(memory.get("after_warmup_kib", 0) / 1024, 1),
        "worker_rss_end_mib": round(memory["end_kib"] / 1024, 1),
        "targets": {"http_signals_per_s": 20000, "ratio_to_copy": 0.25},
    }
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
