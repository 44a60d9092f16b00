#!/usr/bin/env bash
# Writes the seed inputs of fuzz/corpus/ from the text below: protobuf
# messages from text format with `protoc --encode`, plain text as is. Run
# from anywhere; it rewrites only the seed-* files (crash regression inputs,
# named crash-*, are kept as libFuzzer found them).
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=fuzz/corpus

# seed TARGET NAME MESSAGE TEXT: the binary encoding of a deadline.v1 message.
seed() {
  mkdir -p "$corpus/$1"
  printf '%s\n' "$4" |
    protoc --encode="deadline.v1.$3" -I proto -I /usr/include \
      proto/deadline.proto >"$corpus/$1/seed-$2"
}
# text TARGET NAME TEXT: the text itself, without a newline.
text() {
  mkdir -p "$corpus/$1"
  printf '%s' "$3" >"$corpus/$1/seed-$2"
}
# duration TARGET NAME SECONDS NANOS: 12 bytes, little-endian int64, int32.
duration() {
  python3 -c 'import struct, sys
sys.stdout.buffer.write(struct.pack("<qi", int(sys.argv[1]), int(sys.argv[2])))' \
    "$3" "$4" >"$corpus/$1/seed-$2"
}

rm -f "$corpus"/*/seed-*

# Request validation: WorkRequest and FetchAllRequest.
t=work_request_fuzz
seed $t work-valid WorkRequest \
  'steps: 100 step_duration { nanos: 10000000 } kind: WORK_KIND_SPIN'
text $t work-empty ''
seed $t work-negative-steps WorkRequest 'steps: -1'
seed $t work-too-many-steps WorkRequest 'steps: 100001'
seed $t work-step-too-long WorkRequest 'steps: 1 step_duration { seconds: 11 }'
seed $t work-too-much-in-total WorkRequest \
  'steps: 100000 step_duration { seconds: 10 }'
seed $t work-malformed-duration WorkRequest \
  'steps: 1 step_duration { seconds: 1 nanos: -1 }'
seed $t work-largest-duration WorkRequest \
  'step_duration { seconds: 9223372036854775807 nanos: 999999999 }'
seed $t work-smallest-duration WorkRequest \
  'step_duration { seconds: -9223372036854775808 nanos: -999999999 }'
seed $t work-unknown-kind WorkRequest 'steps: 1 kind: 42'
seed $t fetchall-valid FetchAllRequest '
  panels { steps: 3 step_duration { nanos: 1000000 } }
  panels { steps: 3 step_duration { nanos: 1000000 } kind: WORK_KIND_SPIN }
  panels { steps: 30 step_duration { nanos: 1000000 } }
  mode: FAN_OUT_MODE_PARTIAL'
seed $t fetchall-17-panels FetchAllRequest \
  "$(for _ in $(seq 17); do printf 'panels { steps: 1 } '; done)"
seed $t fetchall-unknown-mode FetchAllRequest 'panels { steps: 1 } mode: 9'
seed $t fetchall-bad-third-panel FetchAllRequest '
  panels { steps: 1 } panels { steps: 2 } panels { steps: -1 }
  panels { steps: 100001 }'

# Traces and replies to render.
t=trace_fuzz
timed_out='request_id: "5f2c9a0e1b7d4c83"
  hops { hop: "frontend" panel: -1
         arrived_at { seconds: 1795400000 nanos: 900000 }
         finished_at { seconds: 1795400000 nanos: 90800000 }
         deadline { seconds: 1795400000 nanos: 100000000 }
         budget_at_arrival { nanos: 99100000 } forwarded { nanos: 89100000 }
         code: "DEADLINE_EXCEEDED" stop: "backend failed: DEADLINE_EXCEEDED" }
  hops { hop: "backend" address: "127.0.0.1:50061" panel: -1
         arrived_at { seconds: 1795400000 nanos: 1200000 }
         finished_at { seconds: 1795400000 nanos: 88100000 }
         deadline { seconds: 1795400000 nanos: 90000000 }
         budget_at_arrival { nanos: 88800000 }
         steps_requested: 100 steps_done: 8
         code: "DEADLINE_EXCEEDED" stop: "at its deadline"
         noticed_cancel_at { seconds: 1795400000 nanos: 50000000 } }'
seed $t trace-timed-out BudgetTrace "$timed_out"
printf '%s\n' "$timed_out" |
  protoc --encode=deadline.v1.BudgetTrace -I proto -I /usr/include \
    proto/deadline.proto | base64 -w0 >"$corpus/$t/seed-trace-timed-out-base64"
seed $t trace-fan-out BudgetTrace 'request_id: "0123456789abcdef"
  hops { hop: "frontend" panel: -1
         arrived_at { seconds: 1795400000 nanos: 500000 }
         finished_at { seconds: 1795400000 nanos: 60000000 }
         budget_at_arrival { nanos: 99500000 } forwarded { nanos: 89500000 }
         code: "OK" stop: "done" }
  hops { hop: "backend" address: "127.0.0.1:50061" panel: 0
         arrived_at { seconds: 1795400000 nanos: 900000 }
         finished_at { seconds: 1795400000 nanos: 30000000 }
         budget_at_arrival { nanos: 89000000 } steps_requested: 3
         steps_done: 3 code: "OK" stop: "done" }
  hops { hop: "backend" address: "127.0.0.1:50062" panel: 1
         budget_at_arrival { seconds: -1 } code: "UNAVAILABLE"
         stop: "no answer: connection refused" }'
seed $t trace-no-hops BudgetTrace 'request_id: "lonely"'
seed $t trace-far-times BudgetTrace 'hops {
  hop: "backend" arrived_at { seconds: -62135596800 }
  finished_at { seconds: 253402300799 nanos: 999999999 }
  deadline { seconds: 0 } budget_at_arrival { seconds: 315576000000 } }'
seed $t trace-extreme-times BudgetTrace 'hops {
  hop: "frontend" panel: 2147483647
  arrived_at { seconds: -9223372036854775808 nanos: -999999999 }
  finished_at { seconds: 9223372036854775807 nanos: 999999999 }
  deadline { seconds: 9223372036854775807 }
  noticed_cancel_at { seconds: -9223372036854775808 }
  budget_at_arrival { seconds: -9223372036854775808 nanos: -999999999 }
  forwarded { seconds: 9223372036854775807 nanos: 999999999 }
  steps_requested: -2147483648 steps_done: 2147483647 }'
seed $t reply-partial FetchAllReply '
  panels { index: 0 backend: "127.0.0.1:50061" reply { steps_done: 3 }
           budget_forwarded { nanos: 89000000 } elapsed { nanos: 31000000 } }
  panels { index: 1 backend: "127.0.0.1:50063" code: 4
           message: "backend: 88.1ms at arrival, stopped after 8/100 steps"
           reply { steps_done: 8 } elapsed { nanos: 88000000 } }
  budget_at_arrival { nanos: 99000000 } budget_forwarded { nanos: 89000000 }'

# Durations and flags (text), and protobuf Durations (12 bytes).
t=duration_fuzz
text $t panels-default '3x10x10ms'
text $t panels-mixed '3x10x10ms,1x100x1.5ms:spin'
text $t panels-large '1000x100000x10s'
text $t panels-negative '1x-5x-1ms'
text $t flag-ms '300ms'
text $t flag-compound '1h2m3.5s'
text $t flag-negative '-2ms'
text $t flag-inf 'inf'
text $t flag-zero '0'
text $t flag-largest '2562047788015215h'
text $t budget-defaults '10ms,5ms,5s,60s'
text $t budget-zero '0,0,0,0'
text $t budget-default-too-small '10ms,5ms,14ms,60s'
text $t budget-infinite-max '10ms,5ms,5s,inf'
duration $t proto-1.5s 1 500000000
duration $t proto-minus-1ns 0 -1
duration $t proto-largest 9223372036854775807 999999999
duration $t proto-malformed 1 -1

echo "seeds: $(ls "$corpus"/*/seed-* | wc -l) files in $corpus/" >&2
