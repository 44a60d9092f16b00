#!/usr/bin/env bash
# Renders deploy/edge/nginx.conf.template into an nginx configuration for
# the edge proxy in front of one frontend, on stdout. The values that must
# agree with the frontend are derived from the frontend's own flags, given
# here as the frontend was given them (its defaults otherwise):
#
#   --max_deadline=1m         every nginx timer that runs during a call is
#                             this + 5 s (the frontend answers first)
#   --max_connection_age=30m  nginx's keepalive_time, both sides
#   --keepalive_time=20s      TCP keepalive toward clients: idle time,
#   --keepalive_timeout=10s   then 3 probes spread over this
#
# and the edge's own:
#
#   --listen=HOST:PORT        where nginx listens (default 127.0.0.1:8443)
#   --frontend=HOST:PORT      the frontend (default 127.0.0.1:50051)
#   --rate=N                  calls per second per client address before
#                             calls wait (default 20000)
#   --workers=N|auto          worker processes (default auto)
#   --tls_cert=, --tls_key=   terminate TLS here with this certificate
#   --client_ca=              ... and require client certificates (mTLS)
#   --upstream_ca=            reach the frontend over TLS, verified by this
#                             CA (the frontend's --tls_cert), with
#   --upstream_name=NAME      the name its certificate must carry
#   --upstream_cert=, --upstream_key=  nginx's client certificate for the
#                             frontend's --tls_client_ca
#   --call_timeout=DURATION   THE PITFALL, for the test that shows it:
#                             overrides the derived timers
#   --passthrough             a TCP relay instead (passthrough.conf.template):
#                             TLS end to end, no per-call anything
#
# Durations are the servers' (absl) forms: 300ms, 20s, 1m, 1m30s. Exits 2,
# saying why, on an unknown argument or a value it cannot read.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

listen=127.0.0.1:8443
frontend=127.0.0.1:50051
max_deadline=1m
max_connection_age=30m
keepalive_time=20s
keepalive_timeout=10s
rate=20000
workers=auto
tls_cert="" tls_key="" client_ca=""
upstream_ca="" upstream_name="" upstream_cert="" upstream_key=""
call_timeout=""
template=nginx.conf.template

usage() { echo "render.sh: $*" >&2; exit 2; }
for arg in "$@"; do
  value="${arg#*=}"
  case "$arg" in
    --listen=*) listen="$value" ;;
    --frontend=*) frontend="$value" ;;
    --max_deadline=*) max_deadline="$value" ;;
    --max_connection_age=*) max_connection_age="$value" ;;
    --keepalive_time=*) keepalive_time="$value" ;;
    --keepalive_timeout=*) keepalive_timeout="$value" ;;
    --rate=*) rate="$value" ;;
    --workers=*) workers="$value" ;;
    --tls_cert=*) tls_cert="$value" ;;
    --tls_key=*) tls_key="$value" ;;
    --client_ca=*) client_ca="$value" ;;
    --upstream_ca=*) upstream_ca="$value" ;;
    --upstream_name=*) upstream_name="$value" ;;
    --upstream_cert=*) upstream_cert="$value" ;;
    --upstream_key=*) upstream_key="$value" ;;
    --call_timeout=*) call_timeout="$value" ;;
    --passthrough) template=passthrough.conf.template ;;
    *) usage "unknown argument $arg" ;;
  esac
done

# A duration in whole milliseconds (rounded up).
ms() {
  awk -v d="$1" 'BEGIN {
    unit["h"] = 3600000; unit["m"] = 60000; unit["s"] = 1000;
    unit["ms"] = 1; unit["us"] = 0.001; unit["ns"] = 0.000001;
    total = 0; rest = d;
    if (rest == "0") { print 0; exit }
    while (rest != "") {
      if (!match(rest, /^[0-9]+(\.[0-9]+)?(ms|us|ns|h|m|s)/)) exit 1;
      part = substr(rest, 1, RLENGTH); rest = substr(rest, RLENGTH + 1);
      match(part, /^[0-9]+(\.[0-9]+)?/);
      total += substr(part, 1, RLENGTH) * unit[substr(part, RLENGTH + 1)];
    }
    printf "%d\n", (total == int(total)) ? total : int(total) + 1;
  }' || usage "not a duration: $1"
}
# Whole seconds, rounded up, at least 1.
seconds() { local m; m="$(ms "$1")"; echo $(( m < 1000 ? 1 : (m + 999) / 1000 )); }

[[ "$listen" =~ ^[^:]+:[0-9]+$ ]] || usage "--listen must be HOST:PORT"
[[ "$frontend" =~ ^[^:]+:[0-9]+$ ]] || usage "--frontend must be HOST:PORT"
[[ "$rate" =~ ^[1-9][0-9]*$ ]] || usage "--rate must be a positive number"
[[ "$workers" =~ ^([1-9][0-9]*|auto)$ ]] || usage "--workers must be N or auto"
if [ -n "$tls_cert$tls_key" ] && { [ -z "$tls_cert" ] || [ -z "$tls_key" ]; }; then
  usage "--tls_cert and --tls_key go together"
fi
[ -z "$client_ca" ] || [ -n "$tls_cert" ] || usage "--client_ca needs --tls_cert"
if [ "$template" = passthrough.conf.template ] &&
    [ -n "$tls_cert$client_ca$upstream_ca$upstream_cert" ]; then
  usage "--passthrough relays the frontend's own TLS: no TLS flags"
fi
if [ -n "$upstream_cert$upstream_key" ] && { [ -z "$upstream_cert" ] || [ -z "$upstream_key" ] || [ -z "$upstream_ca" ]; }; then
  usage "--upstream_cert and --upstream_key go together, with --upstream_ca"
fi

if [ -n "$call_timeout" ]; then
  call_timeout_ms="$(ms "$call_timeout")"
else
  call_timeout_ms=$(( $(ms "$max_deadline") + 5000 ))
fi
idle="$(seconds "$keepalive_time")"
interval=$(( ($(seconds "$keepalive_timeout") + 2) / 3 ))
[ "$interval" -ge 1 ] || interval=1

# Milliseconds as nginx reads them: whole seconds as "25s", else "1500ms".
nginx_time() { if (( $1 % 1000 == 0 )); then echo "$(( $1 / 1000 ))s"; else echo "$1ms"; fi; }
scheme=grpc
[ -z "$upstream_ca" ] || scheme=grpcs

keep() {  # keep MARKER YES: strip the marker from its lines, or drop them
  if [ -n "$2" ]; then echo "s/  #@$1\$//"; else echo "/  #@$1\$/d"; fi
}
sed \
  -e "$(keep tls "$tls_cert")" \
  -e "$(keep client_ca "$client_ca")" \
  -e "$(keep upstream_tls "$upstream_ca")" \
  -e "$(keep upstream_mtls "$upstream_cert")" \
  -e "s|@WORKERS@|$workers|" \
  -e "s|@RATE@|$rate|g" \
  -e "s|@CONNECTION_AGE@|$(nginx_time "$(ms "$max_connection_age")")|g" \
  -e "s|@CALL_TIMEOUT@|$(nginx_time "$call_timeout_ms")|g" \
  -e "s|@CONNECT_TIMEOUT@|5s|g" \
  -e "s|@FRONTEND@|$frontend|" \
  -e "s|@LISTEN@|$listen|" \
  -e "s|@SSL@|${tls_cert:+ssl }|" \
  -e "s|@SO_KEEPALIVE@|${idle}s:${interval}s:3|" \
  -e "s|@TLS_CERT@|$tls_cert|" \
  -e "s|@TLS_KEY@|$tls_key|" \
  -e "s|@CLIENT_CA@|$client_ca|" \
  -e "s|@SCHEME@|$scheme|" \
  -e "s|@UPSTREAM_CA@|$upstream_ca|" \
  -e "s|@UPSTREAM_NAME@|${upstream_name:-${frontend%:*}}|" \
  -e "s|@UPSTREAM_CERT@|$upstream_cert|" \
  -e "s|@UPSTREAM_KEY@|$upstream_key|" \
  "$here/$template"
