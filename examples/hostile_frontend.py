"""A hostile Frontend for the example tests: every Fetch fails with
DEADLINE_EXCEEDED and a deadline-trace-bin whose strings carry terminal
escape sequences, forged lines and a bidi override, as a compromised hop
could send. The clients must print the trace without passing those on.

Needs the generated deadline_pb2 and deadline_pb2_grpc on PYTHONPATH
(python/gen.sh). Serves on 127.0.0.1:0 and prints "hostile frontend
listening on 127.0.0.1:PORT"; runs until killed.
"""

from concurrent import futures
import sys

import grpc

import deadline_pb2
import deadline_pb2_grpc

ESC = "\x1b"
FORGED = "status:     OK"  # what a forged line would claim


class HostileFrontend(deadline_pb2_grpc.FrontendServicer):

    def Fetch(self, request, context):
        trace = deadline_pb2.BudgetTrace(request_id=f"evil{ESC}[2J")
        trace.hops.add(
            hop=f"backend{ESC}[31m",
            address=f"10.0.0.1\r\n{FORGED}",
            code=f"OK\n{FORGED}",
            stop=f"done{ESC}]0;pwned\x07 \u202egnp.exe",
            steps_requested=request.work.steps,
            steps_done=request.work.steps)
        context.set_trailing_metadata(
            (("deadline-trace-bin", trace.SerializeToString()),))
        context.abort(grpc.StatusCode.DEADLINE_EXCEEDED,
                      f"hostile{ESC}[2K\n{FORGED}")


def main():
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    deadline_pb2_grpc.add_FrontendServicer_to_server(HostileFrontend(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(f"hostile frontend listening on 127.0.0.1:{port}", flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    sys.exit(main())
