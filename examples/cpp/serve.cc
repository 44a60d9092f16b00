#include "examples/cpp/serve.h"

#include <iostream>

#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"

namespace deadline::example {

std::unique_ptr<grpc::Server> StartServer(grpc::Service* service,
                                          const std::string& address,
                                          int* port) {
  grpc::ServerBuilder builder;
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), port);
  builder.RegisterService(service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || *port == 0) return nullptr;
  return server;
}

int ServeForever(const std::string& name, grpc::Service* service,
                 const std::string& address) {
  int port = 0;
  const std::unique_ptr<grpc::Server> server =
      StartServer(service, address, &port);
  if (server == nullptr) {
    std::cerr << name << ": cannot listen on " << address << "\n";
    return 1;
  }
  std::cout << name << " listening on " << address.substr(0, address.rfind(':'))
            << ":" << port << std::endl;
  server->Wait();  // Until the process is killed (Ctrl+C).
  return 0;
}

}  // namespace deadline::example
