"""A Python client of deadline.v1.Frontend.Fetch: a deadline, a cancel, and
the explained error.

The deadline is Python's `timeout=`, sent to the frontend as the
`grpc-timeout` header; the frontend forwards what is left of it to the C++
backend. `--cancel_after` (or Ctrl+C) cancels the call with the future's
`.cancel()`, which reaches the servers as an HTTP/2 RST_STREAM. On any
outcome the client prints the per-hop trace the frontend sent back in the
trailing metadata `deadline-trace-bin` (a serialized deadline.v1.BudgetTrace).

Exit status, as for the C++ client: 0 OK, 2 bad flags, 10 + the gRPC code
otherwise (11 CANCELLED, 14 DEADLINE_EXCEEDED, 24 UNAVAILABLE).

Run it with run.sh, which generates deadline_pb2 and deadline_pb2_grpc.
"""

import argparse
import re
import secrets
import sys
import time

import grpc

try:
    import deadline_pb2
    import deadline_pb2_grpc
except ImportError:
    sys.exit("client.py: generated code not found; run it with run.sh")

TRACE_KEY = "deadline-trace-bin"
MAX_TEXT = 200  # characters kept of any string a server sent


def parse_duration(text):
    """Seconds as a number ("0.3") or with a unit ("300ms", "2s", "1m")."""
    match = re.fullmatch(r"(\d+\.?\d*|\.\d+)(us|ms|s|m)?", text)
    if not match:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r}")
    scale = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[match[2] or "s"]
    seconds = float(match[1]) * scale
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return seconds


def safe(text):
    """Text from a server, fit for a terminal: it crosses a trust boundary,
    so control and format characters (escape sequences, newlines, bidi
    overrides) become '?', and it is cut to MAX_TEXT characters."""
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + "..."


def ms(duration):
    return f"{duration.ToNanoseconds() / 1e6:.1f}ms"


def format_hop(hop):
    name = safe(hop.hop) + (f" {safe(hop.address)}" if hop.address else "")
    parts = [f"{name}: {safe(hop.code)}"]
    parts.append("budget at arrival " + (
        ms(hop.budget_at_arrival) if hop.HasField("budget_at_arrival")
        else "none"))
    if hop.HasField("forwarded"):
        parts.append(f"forwarded {ms(hop.forwarded)}")
    parts.append(f"steps {hop.steps_done}/{hop.steps_requested}")
    parts.append(f"stop: {safe(hop.stop)}")
    return ", ".join(parts)


def print_trace(trailing_metadata):
    values = [v for k, v in trailing_metadata or () if k == TRACE_KEY]
    if not values:
        print("hops:       no trace came back (the call was cancelled, or no "
              "hop answered in time: the hops' log lines tell what they did)")
        return
    trace = deadline_pb2.BudgetTrace()
    try:
        trace.ParseFromString(values[-1])
    except Exception as error:  # the bytes came from the network
        print(f"hops:       unreadable trace: {safe(str(error))}")
        return
    print(f"hops of request {safe(trace.request_id)}:")
    for hop in trace.hops:
        print("  " + format_hop(hop))


def main():
    parser = argparse.ArgumentParser(
        description="Calls deadline.v1.Frontend.Fetch with a deadline or a "
        "cancellation and prints how each hop ended.")
    parser.add_argument("--target", default="127.0.0.1:50051",
                        help="the frontend's host:port")
    parser.add_argument("--deadline", type=parse_duration,
                        help="the call's timeout, e.g. 300ms (default: none)")
    parser.add_argument("--grpc_timeout_only", action="store_true",
                        help="send the deadline as grpc-timeout alone, as a "
                        "client that knows nothing of deadline-at")
    parser.add_argument("--cancel_after", type=parse_duration,
                        help="cancel the call after this long (Ctrl+C too)")
    parser.add_argument("--steps", type=int, default=10,
                        help="backend work steps")
    parser.add_argument("--step", type=parse_duration, default=0.01,
                        help="length of one step (default 10ms)")
    parser.add_argument("--request_id", default=secrets.token_hex(8),
                        help="the x-request-id to send (default: a new one)")
    args = parser.parse_args()

    request = deadline_pb2.FetchRequest()
    request.work.steps = args.steps
    request.work.step_duration.FromNanoseconds(round(args.step * 1e9))

    with grpc.insecure_channel(args.target) as channel:
        stub = deadline_pb2_grpc.FrontendStub(channel)
        start = time.monotonic()
        metadata = [("x-request-id", args.request_id)]
        if args.deadline is not None and not args.grpc_timeout_only:
            # Beside grpc-timeout, the deadline itself and the send time, in
            # Unix microseconds: each hop can see how long the call took to
            # reach it (see common/deadline_at.h).
            now_us = time.time_ns() // 1000
            metadata += [
                ("deadline-at", str(now_us + round(args.deadline * 1e6))),
                ("deadline-sent-at", str(now_us)),
            ]
        call = stub.Fetch.future(request, timeout=args.deadline,
                                 metadata=metadata)
        try:
            # Raises FutureTimeoutError if still running at --cancel_after.
            call.exception(timeout=args.cancel_after)
        except grpc.FutureTimeoutError:
            print(f"client: --cancel_after reached after "
                  f"{args.cancel_after * 1e3:.0f}ms, cancelling",
                  file=sys.stderr)
            call.cancel()
        except KeyboardInterrupt:
            print("client: interrupted, cancelling the call", file=sys.stderr)
            call.cancel()
        except grpc.FutureCancelledError:
            pass
        elapsed = time.monotonic() - start

        code = call.code()
        status = code.name
        if code != grpc.StatusCode.OK and call.details():
            status += ": " + safe(call.details())
        print(f"request_id: {args.request_id}")
        print(f"status:     {status}")
        print(f"elapsed:    {elapsed * 1e3:.1f}ms")
        print_trace(call.trailing_metadata())
    return 0 if code == grpc.StatusCode.OK else 10 + code.value[0]


if __name__ == "__main__":
    sys.exit(main())
