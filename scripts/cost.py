"""What a million updates cost, by component: prints the "Cost" tables of docs/operations.md
(Markdown).

Prices: AWS list prices for us-east-1 (the figures below), not fetched live: check them against the
AWS pricing pages. Change a constant and re-run: python3 scripts/cost.py
"""

import math

MILLION = 1_000_000

# API Gateway, per million requests, first tier (HTTP API: first 300 million a month; REST API:
# first 333 million). HTTP APIs meter requests in 512 KB steps, so every update here counts once.
HTTP_API_PER_MILLION = 1.00
REST_API_PER_MILLION = 3.50

# Lambda: requests, and duration on arm64 at $0.0000133334 per GB-second, billed per 1 ms rounded up.
LAMBDA_REQUESTS_PER_MILLION = 0.20
LAMBDA_ARM64_GB_SECOND = 0.0000133334
MEMORY_GB = 128 / 1024
# A warm p50 of the benchmark (bench/results.md, every-field log) against DynamoDB Local: 1.18 ms.
# In AWS an UpdateItem round trip is a few milliseconds more; the second row shows 6 ms.
DURATIONS_MS = {"benchmark warm p50, 1.18 ms": 1.18, "in AWS, assumed 6 ms": 6.0}

# DynamoDB on-demand (prices since the November 2024 cut): write request unit per 1 KB of the
# larger of the item before and after the update; read request unit per 4 KB, half a unit when
# eventually consistent (the key lookup is).
WRU_PER_MILLION = 0.625
RRU_PER_MILLION = 0.125
LOG_SIZES_KB = [1, 10, 100]
KEY_LOOKUP_RRU = 0.5

# CloudWatch Logs ingestion (standard class) per GB. The function writes one EMF line per update
# (`cargo test --test it metrics -- --nocapture` prints one: ~630 bytes) and no other line for a
# success.
LOGS_INGESTION_PER_GB = 0.50
EMF_LINE_BYTES = 630

# X-Ray (the function has Tracing: Active): $5.00 per million traces recorded; the default
# sampling rule records the first request each second and 5 % of the rest.
XRAY_PER_MILLION = 5.00
XRAY_SAMPLED = 0.05

# Data transfer out to the internet, first 10 TB a month: the 200 answer carries the whole log.
TRANSFER_OUT_PER_GB = 0.09

# Fixed per month, whatever the traffic: 7 custom metrics from EMF (one dimension value per stack)
# at $0.30, alarms at $0.10 per metric they watch (metric math: per metric in the expression),
# the dashboard at $3.00 (an account's first three are free).
CUSTOM_METRICS = 7
METRIC_MONTH = 0.30
ALARM_METRICS = 1 + 1 + 2 + 3 + 1 + 1  # errors, throttles, API 5xx rate, ServerError rate, p99, throttled
ALARM_METRIC_MONTH = 0.10
DASHBOARD_MONTH = 3.00


def lambda_duration(ms):
    return math.ceil(ms) * MEMORY_GB * LAMBDA_ARM64_GB_SECOND / 1000 * MILLION


def dollars(x):
    return f"${x:,.4f}" if x < 1 else f"${x:,.2f}"


def main():
    base_ms = next(iter(DURATIONS_MS.values()))
    shared = [
        ("Lambda requests", LAMBDA_REQUESTS_PER_MILLION),
        (
            f"Lambda duration, arm64 128 MB, {base_ms} ms billed as {math.ceil(base_ms)} ms",
            lambda_duration(base_ms),
        ),
        ("CloudWatch Logs ingestion, one EMF line", EMF_LINE_BYTES * MILLION / 1e9 * LOGS_INGESTION_PER_GB),
        ("X-Ray traces, 5 % sampled", XRAY_SAMPLED * XRAY_PER_MILLION),
    ]
    print("| component | 1 KB log | 10 KB log | 100 KB log |")
    print("|---|---|---|---|")
    rows = [("API Gateway HTTP API (`ApiType=HTTP`)", HTTP_API_PER_MILLION),
            ("API Gateway REST API (`ApiType=REST`)", REST_API_PER_MILLION)]
    for name, cost in rows + shared:
        print(f"| {name} | {dollars(cost)} | {dollars(cost)} | {dollars(cost)} |")
    writes = [kb * WRU_PER_MILLION for kb in LOG_SIZES_KB]
    print("| DynamoDB UpdateItem (1 WRU per KB) | " + " | ".join(dollars(w) for w in writes) + " |")
    transfer = [kb * 1024 * MILLION / 1e9 * TRANSFER_OUT_PER_GB for kb in LOG_SIZES_KB]
    print("| data transfer out (the answer is the log) | " + " | ".join(dollars(t) for t in transfer) + " |")
    lookup = KEY_LOOKUP_RRU * RRU_PER_MILLION
    print(f"| key lookup GetItem, only when not cached (0.5 RRU) | {dollars(lookup)} | {dollars(lookup)} | {dollars(lookup)} |")
    print("| CloudWatch metrics (EMF) | $0: fixed per month, below | | |")
    rest = sum(c for _, c in shared)
    for name, api in rows:
        # Every update a cache miss: the worst case.
        totals = [api + rest + w + t + lookup for w, t in zip(writes, transfer)]
        label = name.split(" (")[0].replace("API Gateway ", "")
        print(f"| **total with {label}**, every key lookup a miss | " + " | ".join(f"**{dollars(t)}**" for t in totals) + " |")
    print()
    print("| Lambda duration per million | billed ms | cost |")
    print("|---|---|---|")
    for name, ms in DURATIONS_MS.items():
        print(f"| {name} | {math.ceil(ms)} | {dollars(lambda_duration(ms))} |")
    print()
    fixed = CUSTOM_METRICS * METRIC_MONTH + ALARM_METRICS * ALARM_METRIC_MONTH + DASHBOARD_MONTH
    print(
        f"Fixed per stack and month: {CUSTOM_METRICS} custom metrics {dollars(CUSTOM_METRICS * METRIC_MONTH)}, "
        f"alarms on {ALARM_METRICS} metrics {dollars(ALARM_METRICS * ALARM_METRIC_MONTH)}, "
        f"dashboard {dollars(DASHBOARD_MONTH)}: {dollars(fixed)}."
    )


if __name__ == "__main__":
    main()
