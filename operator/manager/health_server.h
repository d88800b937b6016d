#pragma once
// The operator's cluster-facing HTTP endpoints (/healthz, /readyz and, when
// they share the port, /metrics) on civetweb, the maintained embedded server
// prometheus-cpp's Exposer also uses. The hand-written server in
// operator/httpserver stays for the test API server and the emulators only.
//
// Answers GET and HEAD with what `handler(path)` returns; other methods get
// 405. Connections are closed after each answer (probes and scrapes do not
// need keep-alive). Two worker threads.
//
// Thread-safety: the handler runs on civetweb's threads, concurrently;
// port() is safe from any thread. Destruction stops the server and waits
// for running handlers.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "operator/base/result.h"

struct mg_context;
struct mg_connection;

namespace gpupool::manager {

struct HealthReply {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

class HealthServer {
 public:
  using Handler = std::function<HealthReply(const std::string& path)>;

  // Listens on host:port (port 0: an ephemeral one). Errors name the address.
  static Result<std::unique_ptr<HealthServer>, std::string> start(const std::string& host,
                                                                  uint16_t port, Handler handler);
  ~HealthServer();
  HealthServer(const HealthServer&) = delete;
  HealthServer& operator=(const HealthServer&) = delete;

  uint16_t port() const { return port_; }
  std::string base_url() const;

 private:
  explicit HealthServer(Handler handler) : handler_(std::move(handler)) {}
  static int on_request(::mg_connection* conn, void* self);

  Handler handler_;
  std::string host_;
  ::mg_context* ctx_ = nullptr;
  uint16_t port_ = 0;
};

}  // namespace gpupool::manager
