#!/usr/bin/python3
"""Deadlines no gRPC client library sends, from a raw HTTP/2 peer.

A grpc-timeout of 2,500,000 hours (gRPC C++ itself caps what it sends at
27,000) used to wrap into the past at both hops; a malformed grpc-timeout
reaches a server as no deadline at all. Both must meet the servers'
--max_deadline clamp and --default_deadline. Run by bazel (raw_http2_test),
with the real binaries; Debian's python3-h2 speaks HTTP/2.
"""
import os
import re
import socket
import subprocess
import sys
import time

import h2.config
import h2.connection
import h2.events

RUNFILES = os.path.join(os.environ["TEST_SRCDIR"], os.environ["TEST_WORKSPACE"])


def start(binary, *flags):
    """Starts a server on 127.0.0.1:0; returns (process, address)."""
    process = subprocess.Popen(
        [os.path.join(RUNFILES, binary), "--listen=127.0.0.1:0", *flags],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    match = re.search(r"listening on (\S+)", line)
    if not match:
        process.kill()
        sys.exit(f"{binary} did not start: {line!r}")
    return process, match.group(1)


def varint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def work_request(steps, step_ms):
    """deadline.v1.WorkRequest{steps, step_duration}, encoded by hand."""
    duration = b"\x10" + varint(step_ms * 1_000_000)  # nanos
    return b"\x08" + varint(steps) + b"\x12" + varint(len(duration)) + duration


def call(address, method, message, timeout):
    """One unary call; returns (grpc-status, grpc-message, seconds)."""
    host, port = address.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=30)
    conn = h2.connection.H2Connection(
        config=h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    stream = conn.get_next_available_stream_id()
    conn.send_headers(stream, [
        (":method", "POST"), (":scheme", "http"), (":path", method),
        (":authority", address), ("content-type", "application/grpc"),
        ("te", "trailers"), ("grpc-timeout", timeout),
    ])
    conn.send_data(stream, b"\x00" + len(message).to_bytes(4, "big") + message,
                   end_stream=True)
    sock.sendall(conn.data_to_send())
    start_time = time.monotonic()
    headers = {}
    while True:
        data = sock.recv(65536)
        if not data:
            break
        for event in conn.receive_data(data):
            if isinstance(event, (h2.events.ResponseReceived,
                                  h2.events.TrailersReceived)):
                headers.update((k.decode(), v.decode())
                               for k, v in event.headers)
            if isinstance(event, h2.events.DataReceived):
                conn.acknowledge_received_data(event.flow_controlled_length,
                                               stream)
            if isinstance(event, h2.events.StreamEnded):
                sock.close()
                return (int(headers.get("grpc-status", -1)),
                        headers.get("grpc-message", ""),
                        time.monotonic() - start_time)
        sock.sendall(conn.data_to_send())
    sys.exit(f"{method}: the connection closed without an answer")


failures = []


def check(what, ok):
    print(("ok: " if ok else "FAIL: ") + what)
    if not ok:
        failures.append(what)


backend, backend_address = start("server/backend/backend", "--log=all",
                                 "--default_deadline=500ms")
frontend, frontend_address = start("server/frontend/frontend", "--log=all",
                                   f"--backend={backend_address}")
try:
    # 2,500,000 hours: clamped to --max_deadline (60 s) at the frontend,
    # less its 10 ms reserve, and served.
    status, message, _ = call(frontend_address, "/deadline.v1.Frontend/Fetch",
                              b"\x0a" + varint(len(work_request(2, 1))) +
                              work_request(2, 1), "2500000H")
    check(f"an absurd deadline is served OK (status {status}: {message})",
          status == 0)
    frontend.terminate()
    frontend_log = frontend.communicate(timeout=30)[1]
    check("the frontend saw it as 2,500,000 hours and forwarded 59.99s",
          re.search(r"budget=2499999h59m\S* forwarded=59.99s", frontend_log)
          is not None)

    # A malformed grpc-timeout is no deadline: the backend's default (500 ms)
    # stops 2 s of work.
    status, message, took = call(backend_address, "/deadline.v1.Backend/Work",
                                 work_request(20, 100), "soon")
    check(f"a malformed grpc-timeout meets the default deadline "
          f"(status {status}: {message})", status == 4)
    check(f"it ended after about 500 ms, not 2 s ({took:.2f} s)",
          0.3 < took < 1.5)
finally:
    for process in (frontend, backend):
        if process.poll() is None:
            process.kill()
            process.wait()

sys.exit(1 if failures else 0)
