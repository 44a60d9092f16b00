// Exists only for measurement: a straightforward grpc-go chain of the
// deadline.v1 contract (Frontend.Fetch calls Backend.Work with the handler's
// ctx, so the deadline and cancellation propagate), for bench/compare.cc to
// hold the project's chain against. Built by build.sh in GOPATH mode.
//
//	go_chain --role=backend  --listen=HOST:PORT
//	go_chain --role=frontend --listen=HOST:PORT --backend=HOST:PORT
//
// Prints "go_chain listening on HOST:PORT" once serving; runs until killed.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"

	"google.golang.org/grpc"

	pb "bench.local/deadlinepb"
)

type backendServer struct {
	pb.UnimplementedBackendServer
}

// Work answers OK at once.
func (backendServer) Work(context.Context, *pb.WorkRequest) (*pb.WorkReply, error) {
	return &pb.WorkReply{}, nil
}

type frontendServer struct {
	pb.UnimplementedFrontendServer
	backend pb.BackendClient
}

// Fetch forwards its work to the backend under the caller's ctx.
func (f *frontendServer) Fetch(ctx context.Context, req *pb.FetchRequest) (*pb.FetchReply, error) {
	work := req.GetWork()
	if work == nil {
		work = &pb.WorkRequest{}
	}
	reply, err := f.backend.Work(ctx, work)
	if err != nil {
		return nil, err
	}
	return &pb.FetchReply{Backend: reply}, nil
}

func main() {
	role := flag.String("role", "", "frontend or backend")
	listen := flag.String("listen", "127.0.0.1:0", "host:port to serve on; port 0 picks a free port")
	backend := flag.String("backend", "", "the backend's host:port (frontend role)")
	flag.Parse()

	server := grpc.NewServer()
	switch {
	case *role == "backend":
		pb.RegisterBackendServer(server, backendServer{})
	case *role == "frontend" && *backend != "":
		conn, err := grpc.Dial(*backend, grpc.WithInsecure())
		if err != nil {
			fmt.Fprintf(os.Stderr, "go_chain: %v\n", err)
			os.Exit(1)
		}
		pb.RegisterFrontendServer(server, &frontendServer{backend: pb.NewBackendClient(conn)})
	default:
		fmt.Fprintln(os.Stderr, "go_chain: --role must be backend, or frontend with --backend")
		os.Exit(2)
	}
	lis, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(os.Stderr, "go_chain: cannot listen on %s: %v\n", *listen, err)
		os.Exit(1)
	}
	fmt.Printf("go_chain listening on %s\n", lis.Addr())
	if err := server.Serve(lis); err != nil {
		fmt.Fprintf(os.Stderr, "go_chain: %v\n", err)
		os.Exit(1)
	}
}
