#!/usr/bin/env bash
# The whole-event fuzz at full size: EVENT_FUZZ_CASES events (default 100000) generated from the
# AWS sample events in aws_lambda_events and lambda_http, every part of each mutated, through the
# real binary and a Runtime API against DynamoDB Local (tests/it/events.rs, which the suite runs
# with 2000). EVENT_FUZZ_SEED picks another sequence. Prints the count, the time and the outcomes;
# fails on the first event that stops the function, gets a function error from a served source,
# a 5xx, or changes the stored log without a 200. About 22 minutes on 2 cores (docs/reliability.md).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require rust node java
cd "$ROOT"

ensure_dynamodb_local
export EVENT_FUZZ_CASES="${EVENT_FUZZ_CASES:-100000}"
log "event fuzz: $EVENT_FUZZ_CASES events"
cargo test --locked --test it -- --exact \
  events::fuzzed_events_never_stop_the_function_or_change_data_on_4xx --nocapture
