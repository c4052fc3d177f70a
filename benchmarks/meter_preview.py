"""Meter preview benchmark: `POST /api/v2/meters/{id}/preview` on PostgreSQL over a million signals.

Loads (COPY, not the API) `--signals` signals for one organization across `--customers` customers and `--days`
days, with noise: other event names, other products, `phone_call`s of another product, unresolved customers
and products, odd `data` (a string duration, missing fields), and a second organization whose unresolved
signals name the same product. The meter is the meters guide's: `phone_call` where `call_completed = true`,
sum of `duration_minutes`.

Before timing, the saved meter's day rollups are brought up to date (`meter_rollups_refresh`, as the schedule
keeps them in a running Tally; timed and reported), and the preview from rollups is checked to equal the one
from the signals alone. Each round runs, in-process through Django's test client (URL routing, API-key auth,
the view, the selector, serialization): the saved meter over the 30-day window, the same over the last 7 days, and an unsaved
definition (count of completed calls longer than 5 minutes) over 30 days, plus a same-run baseline: a bare
`SELECT count(*), sum((data->>'duration_minutes')::numeric)` over the same rows (organization, product, event
name, window; no JSON filter, no grouping), the selector alone with rollups and without (`signals_only_30d`).
Reports p50/p95 of each and the ratio of the 30-day preview to the
baseline (docs/benchmarks.md).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tally_bench_b .venv/bin/python benchmarks/meter_preview.py
    ... benchmarks/meter_preview.py --reuse --explain    # keep the loaded data, print the query plan
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
META_TABLE = "bench_meter_preview_meta"
CHUNK = 50_000


def manage(*args: str, env: dict) -> str:
    return subprocess.run(
        [PYTHON, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    ).stdout


def nearest_rank(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


# --- the data ----------------------------------------------------------------------------------------------

# (external id, name, share of the organization's signals, [(event name, share within the product)])
PRODUCTS = [
    ("voice", "Voice agent", 0.5, [("phone_call", 0.7), ("sms_sent", 0.2), ("voicemail", 0.1)]),
    ("chat", "Chat agent", 0.3, [("chat_message", 0.8), ("phone_call", 0.2)]),
    ("docs", "Docs agent", 0.2, [("document_processed", 1.0)]),
]
MODELS = ["gpt-4o", "claude-sonnet-4", "gemini-2.5-pro"]
COUNTRIES = ["us", "gb", "de", "fr", "jp", "br"]


def _pick(rng: random.Random, items: list, weight) -> tuple:
    x = rng.random()
    for item in items:
        x -= weight(item)
        if x < 0:
            return item
    return items[-1]


def signal_data(rng: random.Random, event_name: str) -> dict:
    if event_name == "phone_call":
        data = {
            "call_completed": rng.random() < 0.8,
            "duration_minutes": round(rng.random() * 30, 2),
            "direction": rng.choice(["inbound", "outbound"]),
            "model": rng.choice(MODELS),
            "external_user_id": f"user-{rng.randrange(50)}",
            "dimensions": {"country": rng.choice(COUNTRIES), "carrier": rng.choice(["twilio", "vonage"])},
        }
        noise = rng.random()
        if noise < 0.01:
            data["duration_minutes"] = str(data["duration_minutes"])  # sent as a string: skipped by the sum
        elif noise < 0.015:
            del data["duration_minutes"]
        elif noise < 0.02:
            del data["call_completed"]
        return data
    if event_name == "sms_sent":
        return {"segments": rng.randrange(1, 5), "country": rng.choice(COUNTRIES)}
    if event_name == "voicemail":
        return {"duration_minutes": round(rng.random() * 3, 2), "transcribed": rng.random() < 0.5}
    if event_name == "chat_message":
        return {
            "model": rng.choice(MODELS),
            "tokens": {"input": rng.randrange(10, 4000), "output": rng.randrange(10, 2000)},
            "call_completed": True,  # same keys as the meter's, on another product and event name
            "duration_minutes": rng.randrange(1, 10),
        }
    return {"pages": rng.randrange(1, 100), "language": rng.choice(["en", "de", "ja"])}


def signal_rows(
    *,
    seed: int,
    count: int,
    start: datetime,
    span: timedelta,
    organization_id: int,
    customer_pks: list[int],
    product_pks: dict[str, int],
):
    """Rows for COPY in the signals table's column order (SIGNAL_COLUMNS), in timestamp order (as ingested)."""
    rng = random.Random(seed)
    step = span / count
    ids = uuid.uuid4().hex[:6]
    for i in range(count):
        at = start + step * i + timedelta(seconds=rng.random())
        external_product, _, _, events = _pick(rng, PRODUCTS, lambda p: p[2])
        event_name = _pick(rng, events, lambda e: e[1])[0]
        product_pk = product_pks.get(external_product)
        if product_pk is not None and rng.random() < 0.005:
            product_pk = None  # sent before attribution caught up: unresolved, matched by its external id
        who = rng.random()
        customer_pk = customer_ref = external_customer_id = None
        if customer_pks and who < 0.97:
            # skewed: a few customers send most of the traffic
            index = int(len(customer_pks) * rng.random() ** 2)
            customer_pk = customer_pks[index]
            external_customer_id = f"customer-{index:04d}"
        elif who < 0.995:
            external_customer_id = f"prospect-{rng.randrange(100):03d}"  # not a customer (yet)
        else:
            customer_ref = f"cus_unknown{rng.randrange(20):03d}"
        yield (
            organization_id,
            f"sig_b{ids}{i:010d}",
            event_name,
            customer_pk,
            customer_ref,
            external_customer_id,
            product_pk,
            None,
            external_product,
            None,
            json.dumps(signal_data(rng, event_name)),
            at,
            at + timedelta(milliseconds=rng.randrange(50, 2000)),
            f"evt-{ids}-{i}" if rng.random() < 0.7 else None,
            None,
            "pending",
            "",
        )


SIGNAL_COLUMNS = (
    "organization_id, display_id, event_name, customer_id, customer_ref, external_customer_id, product_id, "
    "product_ref, external_product_id, external_customer_unit_id, data, timestamp, created_at, "
    "idempotency_key, trace_id, rating, rating_error"
)


def copy_signals(dsn: str, rows, total: int) -> float:
    started = time.perf_counter()
    rows = iter(rows)
    with psycopg.connect(dsn) as conn:
        for done in range(0, total, CHUNK):
            with conn.cursor() as cur, cur.copy(f"COPY signals_signal ({SIGNAL_COLUMNS}) FROM STDIN") as copy:
                for row in itertools.islice(rows, CHUNK):
                    copy.write_row(row)
            conn.commit()
            print(f"  {min(done + CHUNK, total):,} signals", flush=True)
    return time.perf_counter() - started


def load(dsn: str, args) -> dict:
    """Organizations, products, customers and the meter through the services; signals by COPY."""
    from apps.accounts.services import api_key_create, organization_create
    from apps.catalog.services import product_create
    from apps.customers.services import customer_create
    from apps.meters.services import meter_create

    org, user = organization_create(
        name="Bench", admin_email="bench@example.com", admin_password="bench-pw-1"
    )
    other, _ = organization_create(name="Other", admin_email="other@example.com", admin_password="bench-pw-2")
    _, api_key = api_key_create(organization=org, name="bench", created_by=user)
    products = {
        external_id: product_create(organization=org, name=name, external_id=external_id)
        for external_id, name, _, _ in PRODUCTS
    }
    print(f"creating {args.customers} customers...", flush=True)
    customers = [
        customer_create(organization=org, name=f"Customer {i:04d}", external_id=f"customer-{i:04d}")
        for i in range(args.customers)
    ]
    meter = meter_create(
        organization=org,
        product_id=products["voice"].display_id,
        name="Completed call minutes",
        event_name="phone_call",
        operation="sum",
        field="duration_minutes",
        filters=[{"field": "call_completed", "op": "=", "value": True}],
    )
    end = datetime.now(UTC).replace(microsecond=0)
    span = timedelta(days=args.days)
    product_pks = {k: p.pk for k, p in products.items()}
    print(
        f"COPYing {args.signals:,} signals (+{args.other_signals:,} for another organization)...", flush=True
    )
    elapsed = copy_signals(
        dsn,
        signal_rows(
            seed=args.seed,
            count=args.signals,
            start=end - span,
            span=span,
            organization_id=org.pk,
            customer_pks=[c.pk for c in customers],
            product_pks=product_pks,
        ),
        args.signals,
    )
    if args.other_signals:
        elapsed += copy_signals(
            dsn,
            signal_rows(
                seed=args.seed + 1,
                count=args.other_signals,
                start=end - span,
                span=span,
                organization_id=other.pk,
                customer_pks=[],
                product_pks={},
            ),
            args.other_signals,
        )
    print(f"  loaded in {elapsed:.1f} s", flush=True)
    return {
        "params": _params(args),
        "organization_pk": org.pk,
        "api_key": api_key,
        "meter_id": meter.display_id,
        "product_pk": products["voice"].pk,
        "product_id": products["voice"].display_id,
        "end": end.isoformat(),
        "load_seconds": round(elapsed, 1),
    }


def _params(args) -> dict:
    return {
        "signals": args.signals,
        "other_signals": args.other_signals,
        "customers": args.customers,
        "days": args.days,
        "seed": args.seed,
    }


def read_meta(dsn: str, args) -> dict | None:
    try:
        with psycopg.connect(dsn) as conn:
            row = conn.execute(f"SELECT value FROM {META_TABLE}").fetchone()
    except psycopg.Error:
        return None
    if row is None or row[0]["params"] != _params(args):
        return None
    return row[0]


def write_meta(dsn: str, meta: dict) -> None:
    with psycopg.connect(dsn) as conn:
        conn.execute(f"CREATE TABLE {META_TABLE} (value jsonb NOT NULL)")
        conn.execute(f"INSERT INTO {META_TABLE} VALUES (%s)", [json.dumps(meta)])


# --- the measurements --------------------------------------------------------------------------------------


def measure(meta: dict, args) -> dict:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from apps.meters.models import Meter
    from apps.meters.selectors import meter_definition, meter_preview_compute
    from apps.meters.services import meter_rollups_refresh

    client = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {meta['api_key']}")
    meter = Meter.objects.select_related("organization", "product").get(display_id=meta["meter_id"])
    end = datetime.fromisoformat(meta["end"])
    # The data ends at `end`; the windows are anchored there (not at now) so a reused database gives the same
    # answers on every rerun.
    window_30 = {
        "from": (end - timedelta(days=30)).isoformat(),
        "to": (end + timedelta(seconds=5)).isoformat(),
    }
    window_7 = {"from": (end - timedelta(days=7)).isoformat(), "to": window_30["to"]}
    unsaved = {
        "productId": meta["product_id"],
        "eventName": "phone_call",
        "operation": "count",
        "filters": [
            {"field": "call_completed", "op": "=", "value": True},
            {"field": "duration_minutes", "op": ">", "value": 5},
        ],
    }

    def post(path: str, body: dict) -> dict:
        response = client.post(path, body, content_type="application/json")
        assert response.status_code == 200, response.content[:500]
        return response.json()

    scenarios = {
        "saved_30d": lambda: post(f"/api/v2/meters/{meta['meter_id']}/preview", window_30),
        "saved_7d": lambda: post(f"/api/v2/meters/{meta['meter_id']}/preview", window_7),
        "unsaved_30d": lambda: post("/api/v2/meters/preview", unsaved | window_30),
        # the selector alone: the same work minus routing, API-key auth and serialization
        "selector_30d": lambda: meter_preview_compute(
            organization=meter.organization,
            product=meter.product,
            definition=meter_definition(meter=meter),
            window_from=datetime.fromisoformat(window_30["from"]),
            window_to=datetime.fromisoformat(window_30["to"]),
            meter=meter,
        ),
        # …and without the day rollups: every signal of the window read and grouped (the unsaved path)
        "signals_only_30d": lambda: meter_preview_compute(
            organization=meter.organization,
            product=meter.product,
            definition=meter_definition(meter=meter),
            window_from=datetime.fromisoformat(window_30["from"]),
            window_to=datetime.fromisoformat(window_30["to"]),
        ),
    }
    # Saved meters are read from day rollups that the schedule keeps current; bring them up to date first, as
    # a running Tally would have (timed: the cost of rolling up 30 days of a new meter).
    started = time.perf_counter()
    rolled = meter_rollups_refresh(meter=meter)
    rollup_seconds = time.perf_counter() - started
    baseline_sql = (
        "SELECT count(*), sum((data->>'duration_minutes')::numeric) FROM signals_signal "
        "WHERE organization_id = %s AND product_id = %s AND event_name = 'phone_call' "
        "AND timestamp >= %s AND timestamp < %s"
    )
    baseline_params = [
        meta["organization_pk"],
        meta["product_pk"],
        datetime.fromisoformat(window_30["from"]),
        datetime.fromisoformat(window_30["to"]),
    ]

    def baseline() -> tuple:
        with connection.cursor() as cur:
            cur.execute(baseline_sql, baseline_params)
            return cur.fetchone()

    answers = {name: run() for name, run in scenarios.items()}  # warm-up, and the answers to report
    same = answers.pop("selector_30d").rows == answers.pop("signals_only_30d").rows
    assert same, "the preview from rollups differs from the preview from the signals"
    base_answer = baseline()
    for _ in range(args.warmup):
        baseline()
        for run in scenarios.values():
            run()

    timings: dict[str, list[float]] = {name: [] for name in [*scenarios, "baseline"]}
    for _ in range(args.runs):
        # interleaved, so a noisy neighbour slows every series alike
        started = time.perf_counter()
        baseline()
        timings["baseline"].append(time.perf_counter() - started)
        for name, run in scenarios.items():
            started = time.perf_counter()
            run()
            timings[name].append(time.perf_counter() - started)

    results: dict = {"rollup": {"days_computed": rolled, "seconds": round(rollup_seconds, 2)}}
    for name, values in timings.items():
        results[name] = {
            "p50_ms": round(statistics.median(values) * 1000, 1),
            "p95_ms": round(nearest_rank(values, 0.95) * 1000, 1),
            "min_ms": round(min(values) * 1000, 1),
        }
    for name, answer in answers.items():
        results[name]["customers"] = len(answer["data"])
        results[name]["totals"] = answer["totals"]
    results["baseline"]["rows"] = base_answer[0]

    if args.explain:
        results["plan"] = {}
        with connection.cursor() as cur:
            for name in ("saved_30d", "saved_7d"):
                with CaptureQueriesContext(connection) as captured:
                    scenarios[name]()
                grouped = next(q["sql"] for q in captured.captured_queries if "GROUP BY" in q["sql"])
                cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + grouped)
                results["plan"][name] = {"sql": grouped, "plan": [row[0] for row in cur.fetchall()]}
            cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + baseline_sql, baseline_params)
            results["plan"]["baseline"] = {"sql": baseline_sql, "plan": [row[0] for row in cur.fetchall()]}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--signals", type=int, default=1_000_000)
    parser.add_argument("--other-signals", type=int, default=100_000, help="for a second organization")
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--reuse", action="store_true", help="keep the database if it holds the same data")
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of the preview query")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    dsn = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tally_bench_b")
    env = {**os.environ, "DATABASE_URL": dsn, "DEBUG": "false"}
    env.setdefault("SECRET_KEY", "bench-" + uuid.uuid4().hex)
    os.environ.update({k: env[k] for k in ("DATABASE_URL", "DEBUG", "SECRET_KEY")})
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

    meta = read_meta(dsn, args) if args.reuse else None
    if meta is None:
        admin = psycopg.connect(dsn.rsplit("/", 1)[0] + "/postgres", autocommit=True)
        name = dsn.rsplit("/", 1)[1]
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
        admin.close()
    else:
        print(f"reusing the loaded database ({meta['params']['signals']:,} signals)", flush=True)
    # On reuse this applies any new migration (an index) to the loaded data.
    manage("migrate", "--noinput", "-v0", env=env)

    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.conf import settings

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # setup speed only

    if meta is None:
        meta = load(dsn, args)
        write_meta(dsn, meta)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE signals_signal")
        table_mib = conn.execute("SELECT pg_total_relation_size('signals_signal') / 1048576").fetchone()[0]
        server = {
            name: conn.execute(f"SHOW {name}").fetchone()[0]
            for name in (
                "server_version",
                "shared_buffers",
                "work_mem",
                "jit",
                "max_parallel_workers_per_gather",
            )
        }

    print(f"timing {args.runs} rounds...", flush=True)
    load_before = os.getloadavg()[0]
    results = {
        "signals": args.signals,
        "other_organization_signals": args.other_signals,
        "customers": args.customers,
        "days": args.days,
        "runs": args.runs,
        "signals_table_with_indexes_mib": table_mib,
        "load_seconds": meta.get("load_seconds"),
        "server": server,
        **measure(meta, args),
    }
    # the machine's 1-minute load average around the timing (2 cores here): context for the absolute figures
    results["load_average"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    results["ratio_to_baseline"] = round(results["saved_30d"]["p50_ms"] / results["baseline"]["p50_ms"], 2)
    results["targets"] = {"p50_ms": 300, "p95_ms": 600}
    for name in ("saved_30d", "saved_7d", "unsaved_30d"):
        results[name]["meets_target"] = results[name]["p50_ms"] <= 300 and results[name]["p95_ms"] <= 600
    met = all(results[name]["meets_target"] for name in ("saved_30d", "saved_7d", "unsaved_30d"))
    results["verdict"] = "meets target" if met else "below target"
    plan = results.pop("plan", None)
    print(json.dumps(results, indent=2))
    if plan:
        for name, explained in plan.items():
            print(f"\n-- {name}\n{explained['sql']}\n\n" + "\n".join(explained["plan"]))
        results["plan"] = plan
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
