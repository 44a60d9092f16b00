#!/usr/bin/env bash
# The demo: builds the binaries, starts three backends (one slow) and two
# frontends (one with the anti-pattern switched on) on free ports, plays the
# story of a deadline across services, then the same calls through the edge
# proxy (nginx, deploy/edge/), and stops everything it started, also on
# Ctrl+C or failure. Exits 0 only if every scenario behaved as described.
#
# Each call's per-hop timeline is printed, and drawn as an SVG in
# $DEMO_OUT (default: ./demo-output). With $DEMO_BIN_DIR set to a folder
# holding server/backend/backend, server/frontend/frontend and client/client, it uses those
# and builds nothing (the test suite runs it so).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${DEMO_BIN_DIR:-}" ]; then
  bin="$DEMO_BIN_DIR"
else
  scripts/deps.sh
  echo "building..."
  bazel build --ui_event_filters=-info,-stdout --noshow_progress \
    //server/backend //server/frontend //client
  bin="$(bazel info bazel-bin 2>/dev/null)"
fi
out="${DEMO_OUT:-$PWD/demo-output}"
mkdir -p "$out"

work_dir="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work_dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ready NAME ADDRESS: waits for NAME's first answer at ADDRESS (a readiness
# probe; a fresh server's first call can also be slow, and no scenario
# should pay for that), says where it listens, and sets $address.
ready() {
  address="$2"
  "$bin/client/client" --stats --target="$address" >/dev/null
  printf '  %-26s %s\n' "$1" "$address"
}

# start NAME BINARY FLAGS...: starts a server on a free port and sets
# $address to the address it printed.
start() {
  local name="$1" log="$work_dir/$1.log"
  shift
  "$@" --listen=127.0.0.1:0 >"$log" 2>&1 &
  pids+=($!)
  for _ in $(seq 200); do
    address="$(grep -o 'listening on [0-9.:]*' "$log" | cut -d' ' -f3 || true)"
    if [ -n "$address" ]; then
      ready "$name" "$address"
      return
    fi
    kill -0 "${pids[-1]}" 2>/dev/null || break
    sleep 0.05
  done
  echo "$name did not start:" >&2
  cat "$log" >&2
  exit 1
}

client() { "$bin/client/client" "$@"; }
# stat ADDRESS NAME: one counter from a server's Stats.
stat() { client --stats --target="$1" | grep -o "$2 [0-9]*" | cut -d' ' -f2; }
# backends NAME: a counter summed over the three backends (the frontend
# spreads unary calls over them in turn).
backends() {
  echo $(( $(stat "$backend_a" "$1") + $(stat "$backend_b" "$1") + $(stat "$backend_c" "$1") ))
}

failures=0
headline() { printf '\n== %s\n' "$*"; }
# run EXPECTED_EXIT NAME CLIENT_FLAGS...: runs the client, indented, draws
# its timeline into $out/NAME.svg, and checks how it exited.
run() {
  local expected="$1" name="$2" status=0 output
  shift 2
  echo "   \$ client $*"
  output="$(client "$@" --timeline_svg="$out/$name.svg" 2>&1)" || status=$?
  echo "$output" | sed 's/^/   /'
  check "client exited $status" "[ $status -eq $expected ]"
}
# check WHAT CONDITION: reports whether the scenario behaved as described.
check() {
  if eval "$2"; then
    echo "   ok: $1"
  else
    echo "   !! not as described: $1"
    failures=$((failures + 1))
  fi
}

echo "starting servers:"
start "backend A" "$bin/server/backend/backend"
backend_a="$address"
start "backend B" "$bin/server/backend/backend"
backend_b="$address"
start "backend C (10x slower)" "$bin/server/backend/backend" --slowdown=10
backend_c="$address"
# A 30 ms margin (the default is 10 ms) keeps the story true on a busy
# machine: each explanation must beat its caller's own timer.
start "frontend" "$bin/server/frontend/frontend" --backend="$backend_a,$backend_b,$backend_c" \
  --reserve=30ms --min_budget=20ms
frontend="$address"
start "frontend, propagation off" "$bin/server/frontend/frontend" --backend="$backend_b" \
  --propagation=off
frontend_off="$address"
start "frontend, one backend down" "$bin/server/frontend/frontend" \
  --backend="$backend_a,$backend_b,127.0.0.1:1"
frontend_down="$address"
start "frontend, hedging" "$bin/server/frontend/frontend" \
  --backend="$backend_a,$backend_c" --hedge_after=30ms
frontend_hedge="$address"
start "frontend, audits" "$bin/server/frontend/frontend" --backend="$backend_b" \
  --audit=detached
frontend_audit="$address"
start "backend D, ignores cancel" "$bin/server/backend/backend" --ignore_cancel
backend_d="$address"
start "frontend to backend D" "$bin/server/frontend/frontend" --backend="$backend_d"
frontend_d="$address"

# start_edge NAME RENDER_FLAGS...: nginx in front of $frontend, configured by
# deploy/edge/render.sh from the frontend's flags (here its defaults), on a
# free port (nginx cannot bind port 0 and tell which it got); sets
# $address and $edge_dir.
start_edge() {
  local name="$1" port
  shift
  edge_dir="$work_dir/demo-edge-$(( ${#pids[@]} ))"
  mkdir -p "$edge_dir"
  chmod 755 "$work_dir" "$edge_dir"  # nginx's workers run as nobody
  for _ in $(seq 20); do
    port=$(( 20000 + RANDOM % 40000 ))
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && continue  # taken
    deploy/edge/render.sh --listen="127.0.0.1:$port" --frontend="$frontend" \
      "$@" >"$edge_dir/nginx.conf"
    nginx -p "$edge_dir" -c "$edge_dir/nginx.conf" -e stderr -g 'daemon off;' \
      >"$edge_dir/stderr.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do
      if grep -q "start worker process" "$edge_dir/error.log" 2>/dev/null; then
        ready "$name" "127.0.0.1:$port"
        return
      fi
      kill -0 "${pids[-1]}" 2>/dev/null || break
      sleep 0.05
    done
    grep -q "Address already in use" "$edge_dir/stderr.log" || break
  done
  echo "$name did not start:" >&2
  cat "$edge_dir/stderr.log" "$edge_dir/error.log" >&2 2>/dev/null
  exit 1
}
if command -v nginx >/dev/null; then
  start_edge "edge proxy (nginx)"
  edge="$address"
  edge_log="$edge_dir/access.log"
  # THE PITFALL: a proxy timer (1 s) shorter than the call's deadline.
  start_edge "edge proxy, 1 s timers" --call_timeout=1s
  edge_short="$address"
else
  echo "nginx is not installed (scripts/deps.sh installs it)" >&2
  exit 1
fi

headline "1. A generous deadline: OK, the budget shrinking hop by hop"
run 0 1-generous --target="$frontend" --deadline=1s --steps=10 --step=20ms

headline "2. A tight deadline: DEADLINE_EXCEEDED, explained, and the backend stops early"
before="$(backends steps_done)"
run 14 2-tight --target="$frontend" --deadline=100ms --steps=100 --step=10ms
sleep 0.05
done_steps=$(( $(backends steps_done) - before ))
check "the backend stopped after $done_steps of 100 steps ($(( 100 - done_steps )) saved)" \
  "[ $done_steps -lt 100 ]"

headline "3. The client is interrupted (Ctrl+C) mid-call: CANCELLED reaches the backend"
before="$(backends cancelled)"
echo "   \$ client --target=$frontend --steps=100 --step=10ms   (SIGINT after 150ms)"
"$bin/client/client" --target="$frontend" --steps=100 --step=10ms \
  --timeline_svg="$out/3-ctrl-c.svg" >"$work_dir/ctrl-c.out" 2>&1 &
client_pid=$!
sleep 0.15
kill -INT "$client_pid"
status=0
wait "$client_pid" || status=$?
sed 's/^/   /' "$work_dir/ctrl-c.out"
check "client exited $status (CANCELLED)" "[ $status -eq 11 ]"
sleep 0.05
check "the backend counted the cancellation" \
  "[ $(backends cancelled) -gt $before ]"

headline "4. Too little budget left at the frontend: fail fast, no backend called"
before="$(stat "$frontend" rejected)"
run 14 4-fail-fast --target="$frontend" --deadline=40ms
check "the frontend rejected it at once" \
  "[ $(stat "$frontend" rejected) -gt $before ]"

headline "5. The dashboard: three panels, one on the slow backend, partial mode"
run 0 5-fanout-partial --target="$frontend" --mode=fanout --panels=3x10x10ms \
  --fanout=partial --deadline=300ms
echo "   the same, all-or-nothing (errgroup): the slow panel fails the call"
run 14 5-fanout-all --target="$frontend" --mode=fanout --panels=3x10x10ms \
  --fanout=all --deadline=300ms
echo "   all-or-nothing again, with one backend down: its panel fails at once"
echo "   and cancels its two siblings (errgroup)"
run 24 5-fanout-sibling-cancel --target="$frontend_down" --mode=fanout \
  --panels=3x100x10ms --fanout=all --deadline=2s
sleep 0.05
check "no sibling is still working for it (1s of work each was asked for)" \
  "[ $(( $(stat "$backend_a" in_flight) + $(stat "$backend_b" in_flight) )) -eq 0 ]"

headline "6. A stream whose reader stops after 3 messages: the backend stops too"
before="$(stat "$backend_a" cancelled)"
echo "   \$ client --target=$backend_a --mode=stream --steps=100 --step=10ms --max_messages=3"
status=0
client --target="$backend_a" --mode=stream --steps=100 --step=10ms \
  --max_messages=3 2>&1 | sed 's/^/   /' || status=$?
check "the reader stopped after 3 messages" "[ $status -eq 0 ]"
sleep 0.05
check "backend A counted the cancelled stream" \
  "[ $(stat "$backend_a" cancelled) -gt $before ]"

headline "7. THE ANTI-PATTERN (--propagation=off): the client gives up, the backend works on"
before="$(stat "$backend_b" steps_done)"
run 14 7-no-propagation --target="$frontend_off" --deadline=200ms --steps=25 \
  --step=40ms
check "backend B is still working for nobody" \
  "[ $(stat "$backend_b" in_flight) -eq 1 ]"
for _ in $(seq 100); do
  [ "$(stat "$backend_b" in_flight)" -eq 0 ] && break
  sleep 0.05
done
wasted=$(( $(stat "$backend_b" steps_done) - before ))
check "it finished all $wasted of 25 steps: ~$(( wasted * 40 - 200 ))ms of work after the client left" \
  "[ $wasted -eq 25 ]"

headline "8. Hedging: a call still unanswered after 30ms goes to the next backend too"
echo "   (backends A and C, C 10x slower; the first OK wins, the other is cancelled)"
before="$(stat "$backend_c" cancelled)"
for call in 1 2; do
  started=$(date +%s%N)
  run 0 "8-hedge-$call" --target="$frontend_hedge" --deadline=1s --steps=5 \
    --step=10ms
  took=$(( ($(date +%s%N) - started) / 1000000 ))
  check "answered in ${took}ms, about the fast backend's time (C alone: 500ms)" \
    "[ $took -lt 400 ]"
done
sleep 0.05
check "backend C counted its losing attempt as cancelled" \
  "[ $(stat "$backend_c" cancelled) -gt $before ]"

headline "9. Detached work (Go's WithoutCancel): the audit record lands though the client cancels"
before="$(stat "$backend_b" records)"
run 11 9-audit --target="$frontend_audit" --steps=100 --step=10ms \
  --cancel_after=100ms
for _ in $(seq 40); do
  [ "$(stat "$backend_b" records)" -gt "$before" ] && break
  sleep 0.05
done
check "backend B stored the cancelled call's audit record" \
  "[ $(stat "$backend_b" records) -gt $before ]"

headline "10. THE OTHER ANTI-PATTERN (backend --ignore_cancel): propagated, never checked"
run 14 10-ignore-cancel --target="$frontend_d" --deadline=200ms --steps=25 \
  --step=40ms
check "backend D is still working for nobody, though the cancel reached it" \
  "[ $(stat "$backend_d" in_flight) -eq 1 ]"
for _ in $(seq 100); do
  [ "$(stat "$backend_d" in_flight)" -eq 0 ] && break
  sleep 0.05
done
check "it ran all 25 steps: checking is the half of propagation that saves work" \
  "[ $(stat "$backend_d" steps_done) -eq 25 ]"

headline "11. Through the edge proxy (nginx, deploy/edge/): the same budget, the same codes"
echo "   (its timers are the frontend's --max_deadline + 5 s: it never answers first)"
run 0 11-edge-ok --target="$edge" --deadline=1s --steps=10 --step=20ms \
  --request_id=demo-edge-ok
run 14 11-edge-tight --target="$edge" --deadline=100ms --steps=100 --step=10ms
sleep 0.2  # nginx writes its log every 100 ms
line="$(grep "request_id=demo-edge-ok" "$edge_log" || true)"
echo "   nginx's log: ${line#* }"
check "nginx logged the call (request_time - upstream_time: its own share)" \
  "[ -n \"\$line\" ]"
echo "   THE PITFALL: a proxy whose timer (1 s) is shorter than the deadline (5 s)"
run 24 11-edge-pitfall --target="$edge_short" --deadline=5s --steps=30 --step=100ms
echo "   the proxy cut it: UNAVAILABLE (its 504), no explanation, no DEADLINE_EXCEEDED"

echo
echo "timelines drawn: $(ls "$out"/*.svg | wc -l) SVG files in $out"
if [ "$failures" -eq 0 ]; then
  echo "demo: every scenario behaved as described"
else
  echo "demo: $failures check(s) did not behave as described"
  exit 1
fi
