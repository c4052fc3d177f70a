"""Credit freshness benchmark: how long after a signal is acknowledged does the customer's balance reflect it?

Production-like: PostgreSQL, gunicorn (the Procfile's `web`) and django-q2 clusters (the Procfile's `worker`
and `rating`) with Redis as their broker. The catalog is Paid's quickstart (Chat Credits; `chat_message` burns 1 credit x
quantity) and 100 customers hold active orders with a large monthly grant. A load generator sends
`chat_message` signals at `--rate` per second (batches every `--tick` seconds, to random customers) for
`--seconds`, noting when each batch was acknowledged (the 200 from /signals/bulk). A watcher polls the ledger
every 10 ms for new spends and notes when each signal's spend became visible (committed). Latency = visible -
acknowledged, per signal; the report gives p50/p95/p99/max, how many signals were spent, and the drift check.
With `track_commit_timestamp = on` it also gives the exact figures (`commit_p50_ms` …): each spend's commit time
from PostgreSQL minus the wall clock at its batch's acknowledgement, free of the watcher's own lag.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tally_bench_credits REDIS_URL=redis://127.0.0.1:6379/3 \
        .venv/bin/python benchmarks/credit_latency.py [--rate 500] [--seconds 60] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
CUSTOMERS = 100

SETUP = """
from datetime import timedelta
from django.utils import timezone
from apps.accounts.services import api_key_create, organization_create
from apps.catalog.services import credit_currency_create, product_attributes_upsert, product_create
from apps.customers.services import customer_create
from apps.orders.services import order_create

org, _ = organization_create(name="Bench", admin_email="bench@example.com", admin_password="bench-pass-123")
_, key = api_key_create(organization=org, name="bench")
credits = credit_currency_create(organization=org, name="Chat Credits", key="chat_credits")
product = product_create(organization=org, name="ChatBot", external_id="chatbot")
product_attributes_upsert(product=product, attributes=[
    {"name": "Plan", "pricing": {"pricing_type": "RecurringPerUnit", "billing_frequency": "Monthly",
                                 "price_points": [{"currency": "USD", "unit_price": 7900}]},
     "credit_benefits": [{"credits_currency_id": credits.display_id, "amount": 10000000,
                          "allocation_cadence": "monthly"}]},
    {"name": "Chat", "pricing": {"pricing_type": "UsagePrepaidCredits", "event_name": "chat_message",
                                 "credits_currency_id": credits.display_id, "credit_cost": 1}},
])
for n in range(%(customers)d):
    customer = customer_create(organization=org, name=f"Customer {n}", external_id=f"c{n}")
    order = order_create(organization=org, customer_id=customer.display_id,
                         lines=[{"product_id": product.display_id}],
                         start_date=timezone.now() - timedelta(days=1), creation_state="active")
print(key)
"""


def manage(*args: str, env: dict, stdin: str | None = None) -> str:
    return subprocess.run(
        [PYTHON, "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        input=stdin,
    ).stdout


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=int, default=500, help="signals per second")
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--tick", type=float, default=0.1, help="seconds between batches")
    parser.add_argument("--web-workers", type=int, default=3)
    parser.add_argument("--q-workers", type=int, default=2)
    parser.add_argument("--port", type=int, default=8392)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    dsn = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tally_bench_credits").split("?")[
        0
    ]
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/3")
    env = {
        **os.environ,
        "DATABASE_URL": dsn,
        "REDIS_URL": redis_url,
        "CACHE_URL": os.environ.get("CACHE_URL", "redis://127.0.0.1:6379/4"),
        "DEBUG": "false",
        "SECRET_KEY": "bench-" + uuid.uuid4().hex,
        "Q_WORKERS": str(args.q_workers),
        "Q_SYNC": "false",
        "LOG_LEVEL": "WARNING",
    }
    name = dsn.rsplit("/", 1)[1]
    with psycopg.connect(dsn.rsplit("/", 1)[0] + "/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    subprocess.run(["redis-cli", "-u", redis_url, "FLUSHDB"], check=True, capture_output=True)
    manage("migrate", "--noinput", "-v0", env=env)
    # Q_SYNC: the activations' grant tasks run inline, so no setup work is left queued for the measured run.
    setup_env = {**env, "Q_SYNC": "true"}
    key = manage("shell", env=setup_env, stdin=SETUP % {"customers": CUSTOMERS}).strip().splitlines()[-1]

    served = {**env, "DATABASE_URL": f"{dsn}?conn_max_age=600"}
    web = subprocess.Popen(
        [PYTHON, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{args.port}",
         "--workers", str(args.web_workers), "--log-level", "warning"],
        cwd=ROOT, env=served,
    )  # fmt: skip
    worker = subprocess.Popen(
        [PYTHON, "manage.py", "qcluster"], cwd=ROOT, env=served, stdout=subprocess.DEVNULL
    )
    rating = subprocess.Popen(  # the Procfile's `rating`: rating's own queue
        [PYTHON, "manage.py", "qcluster"], cwd=ROOT, env={**served, "Q_CLUSTER_NAME": "rating"},
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    acked: dict[str, float] = {}  # idempotency key -> when its batch was acknowledged
    acked_wall: dict[str, float] = {}  # the same, wall clock (to compare with the server's commit timestamps)
    seen: dict[str, float] = {}  # idempotency key -> when its spend was visible
    stop = threading.Event()

    def watch() -> None:
        last = 0
        with psycopg.connect(dsn, autocommit=True) as conn:
            # The tables start empty and grow by 500 rows a second, faster than autovacuum refreshes their
            # statistics: the planner then hash-joins whole tables on every poll (up to 200 ms each, 100 polls
            # a second), and the measuring itself took a core from what it measures. Index plans only.
            conn.execute("SET enable_seqscan = off")
            conn.execute("SET enable_hashjoin = off")
            while not stop.is_set():
                rows = conn.execute(
                    "SELECT c.id, s.idempotency_key FROM credits_creditconsumption c "
                    "JOIN signals_signal s ON s.id = c.signal_id WHERE c.id > %s ORDER BY c.id",
                    [last],
                ).fetchall()
                now = time.monotonic()
                for pk, idem in rows:
                    seen.setdefault(idem, now)
                    last = max(last, pk)
                time.sleep(0.01)

    url = f"http://127.0.0.1:{args.port}/api/v2/signals/bulk"
    try:
        for _ in range(150):
            try:
                httpx.get(f"http://127.0.0.1:{args.port}/api/v2/schema/", timeout=2)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        # Warm-up: the worker cluster takes a while to start on a busy machine; measure from when it has spent
        # a first signal.
        warm = {
            "eventName": "chat_message",
            "customer": {"externalCustomerId": "c0"},
            "idempotencyKey": "warm-up",
            "timestamp": datetime.now(UTC).isoformat(),
        }
        httpx.post(url, json={"signals": [warm]}, headers={"Authorization": f"Bearer {key}"}, timeout=30)
        deadline = time.monotonic() + 120
        while "warm-up" not in seen and time.monotonic() < deadline:
            time.sleep(0.1)
        seen.pop("warm-up", None)
        rng = random.Random(3)
        per_tick = max(1, round(args.rate * args.tick))
        ticks = int(args.seconds / args.tick)
        late_ticks = 0
        with httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=30) as http:
            started = time.monotonic()
            for tick in range(ticks):
                due = started + tick * args.tick
                if (pause := due - time.monotonic()) > 0:
                    time.sleep(pause)
                else:
                    late_ticks += 1
                keys = [f"t{tick}-{i}" for i in range(per_tick)]
                now = datetime.now(UTC).isoformat()
                batch = [
                    {
                        "eventName": "chat_message",
                        "customer": {"externalCustomerId": f"c{rng.randrange(CUSTOMERS)}"},
                        "idempotencyKey": k,
                        "timestamp": now,
                        "data": {"quantity": rng.choice([1, 1, 1, 2, 5]), "model": "gpt-5"},
                    }
                    for k in keys
                ]
                response = http.post(url, json={"signals": batch})
                response.raise_for_status()
                at, wall = time.monotonic(), time.time()
                acked.update(dict.fromkeys(keys, at))
                acked_wall.update(dict.fromkeys(keys, wall))
            sending = time.monotonic() - started
        deadline = time.monotonic() + 30
        while len(seen) < len(acked) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        for process in (web, worker, rating):
            process.send_signal(signal.SIGTERM)
        for process in (web, worker, rating):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()

    latencies = [seen[k] - acked[k] for k in acked if k in seen]
    # Exact: when the transaction that spent each signal committed (PostgreSQL's commit timestamps, with
    # `track_commit_timestamp = on`), minus when its batch was acknowledged. The watcher's figure adds its own
    # polling and a busy client's scheduling on top; this one is what a reader of the balance could see.
    with psycopg.connect(dsn) as conn:
        tracked = conn.execute("SHOW track_commit_timestamp").fetchone()[0] == "on"
        committed = (
            conn.execute(
                "SELECT s.idempotency_key, extract(epoch FROM pg_xact_commit_timestamp(c.xmin))::float8 "
                "FROM credits_creditconsumption c JOIN signals_signal s ON s.id = c.signal_id"
            ).fetchall()
            if tracked
            else []
        )
    commit_latencies = [when - acked_wall[k] for k, when in committed if k in acked_wall and when]
    drift = subprocess.run(
        [PYTHON, "manage.py", "credits_reconcile"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    results = {
        "rate_target": args.rate,
        "rate_sent": round(len(acked) / sending),
        "seconds": round(sending, 1),
        "signals": len(acked),
        "spent": len(latencies),
        "late_ticks": late_ticks,
        "p50_ms": round(statistics.median(latencies) * 1000),
        "p95_ms": round(percentile(latencies, 0.95) * 1000),
        "p99_ms": round(percentile(latencies, 0.99) * 1000),
        "max_ms": round(max(latencies) * 1000),
        "commit_p50_ms": round(statistics.median(commit_latencies) * 1000) if commit_latencies else None,
        "commit_p95_ms": round(percentile(commit_latencies, 0.95) * 1000) if commit_latencies else None,
        "commit_p99_ms": round(percentile(commit_latencies, 0.99) * 1000) if commit_latencies else None,
        "commit_max_ms": round(max(commit_latencies) * 1000) if commit_latencies else None,
        "reconcile_exit": drift.returncode,
        "load_average": os.getloadavg(),
    }
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
