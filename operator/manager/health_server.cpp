#include "operator/manager/health_server.h"

#include <civetweb.h>

#include <cstdio>
#include <mutex>

namespace gpupool::manager {
namespace {

void init_library_once() {
  static std::once_flag once;
  std::call_once(once, [] { mg_init_library(0); });
}

const char* reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 503:
      return "Service Unavailable";
    default:
      return "Status";
  }
}

// civetweb logs to stderr unless told otherwise; the operator logs itself.
int quiet(const ::mg_connection*, const char*) {
  return 1;
}

}  // namespace

int HealthServer::on_request(::mg_connection* conn, void* self_ptr) {
  auto* self = static_cast<HealthServer*>(self_ptr);
  const mg_request_info* info = mg_get_request_info(conn);
  const std::string method = info && info->request_method ? info->request_method : "";
  HealthReply reply;
  if (method != "GET" && method != "HEAD") {
    reply = {405, "text/plain; charset=utf-8", "method not allowed\n"};
  } else {
    try {
      reply = self->handler_(info && info->local_uri ? info->local_uri : "/");
    } catch (const std::exception& e) {
      reply = {503, "text/plain; charset=utf-8", std::string("error: ") + e.what() + "\n"};
    }
  }
  mg_printf(conn,
            "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
            "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
            reply.status, reason(reply.status), reply.content_type.c_str(), reply.body.size());
  if (method != "HEAD" && !reply.body.empty()) mg_write(conn, reply.body.data(), reply.body.size());
  return reply.status;
}

Result<std::unique_ptr<HealthServer>, std::string> HealthServer::start(const std::string& host,
                                                                       uint16_t port,
                                                                       Handler handler) {
  init_library_once();
  std::unique_ptr<HealthServer> s(new HealthServer(std::move(handler)));
  s->host_ = host;
  const std::string listen = host + ":" + std::to_string(port);
  const char* options[] = {
      "listening_ports",    listen.c_str(), "num_threads", "2", "enable_keep_alive", "no",
      "request_timeout_ms", "10000",        nullptr};
  mg_callbacks callbacks{};
  callbacks.log_message = quiet;
  s->ctx_ = mg_start(&callbacks, nullptr, options);
  if (s->ctx_ == nullptr) return fail("cannot listen on " + listen);
  mg_set_request_handler(s->ctx_, "/", &HealthServer::on_request, s.get());
  mg_server_port ports[1] = {};
  if (mg_get_server_ports(s->ctx_, 1, ports) < 1 || ports[0].port <= 0) {
    return fail("cannot learn the port bound for " + listen);
  }
  s->port_ = static_cast<uint16_t>(ports[0].port);
  return s;
}

HealthServer::~HealthServer() {
  if (ctx_ != nullptr) mg_stop(ctx_);
}

std::string HealthServer::base_url() const {
  return "http://" + host_ + ":" + std::to_string(port_);
}

}  // namespace gpupool::manager
