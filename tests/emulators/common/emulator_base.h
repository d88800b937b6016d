#pragma once
// What every provider emulator shares: the loopback HTTP server and its
// lifecycle, the fault plan the admin endpoints and tests steer, and the
// count of requests per operation. An emulator derives from it, implements
// handle() (calling count_request(op) for each request it routes) and calls
// stop() in its destructor, before its own state goes away.
//
// Thread-safe.

#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "operator/httpserver/http_server.h"
#include "tests/emulators/common/fault_plan.h"

namespace gpupool::emulators {

// A query parameter's number as the emulators read one: up to six digits;
// `fallback` for anything else (empty, signed, too long).
int to_int(const std::string& s, int fallback);

// One answer of an emulator's routes: JSON unless it says otherwise, with
// any extra headers (Retry-After, X-Total-Count, ...).
struct Reply {
  int status = 200;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string content_type = "application/json";
};

// The headers a throttling answer carries for a fault's retry_after (0: the
// test asked for none).
using ThrottleHeaders =
    std::function<std::vector<std::pair<std::string, std::string>>(std::chrono::seconds)>;

// "Retry-After: <seconds>" when asked for, nothing otherwise: what most
// providers send with a 429.
std::vector<std::pair<std::string, std::string>> retry_after_header(
    std::chrono::seconds retry_after);

// A provider's own words for the faults a test plans, as data: each emulator
// fills one in with its provider's real answers (error bodies, statuses,
// throttling headers) and answer_fault() picks the one a fault asks for.
struct ProviderFaultReplies {
  Reply no_capacity;   // NoCapacity: the "sold out" answer
  Reply throttle;      // Throttle: the throttling answer, before its headers
  Reply server_error;  // ServerError: a 5xx with the internal-error body
  Reply auth_failure;  // AuthFailure: the credential-rejected answer
  Reply garbled;       // Garbled: a success status with an unreadable body
  // Added to `throttle` for the fault's retry_after; empty: the provider
  // says nothing about when to come back.
  ThrottleHeaders throttle_headers = retry_after_header;
};

// The reply of `replies` for `fault` (a kind the provider words itself:
// NoCapacity, Throttle, ServerError, AuthFailure, Garbled).
Reply answer_fault(const ProviderFaultReplies& replies, const Fault& fault);

// EmulatorBase::serve()'s fault plumbing, for an emulator that keeps its own
// FaultPlan (EC2's, which is not an EmulatorBase).
template <typename Send, typename Replies, typename Route>
void serve_with_faults(FaultPlan& faults, const std::string& op, http::ResponseWriter& w,
                       const Send& send, const Replies& replies, const Route& route) {
  bool lose = false;
  if (auto fault = faults.take(op)) {
    switch (fault->kind) {
      case FaultKind::GarbledError:
        return (void)w.send(502, http::Headers{{"Content-Type", "text/html"}},
                            "<html><body><h1>502 Bad Gateway</h1></body></html>");
      case FaultKind::Slow:
        w.wait_closed(fault->delay);
        break;
      case FaultKind::LoseAnswer:
        lose = true;
        break;
      default:
        return send(answer_fault(replies(), *fault));
    }
  }
  auto reply = route();
  if (lose) w.wait_closed(std::chrono::milliseconds(30'000));
  send(reply);
}

// One line of an emulator's route table: a request with `method` on `path`
// (with `under`, on any path below `path`, which then ends in '/') is the
// operation `op`.
struct RouteRule {
  std::string_view method;
  std::string_view path;
  std::string_view op;
  bool under = false;
};
inline constexpr bool kUnder = true;

// The operation of `req` by the first rule of `routes` that takes it; ""
// when none does.
std::string operation_of(const http::HttpRequest& req, std::initializer_list<RouteRule> routes);

class EmulatorBase {
 public:
  using Reply = emulators::Reply;

  virtual ~EmulatorBase() = default;
  EmulatorBase(const EmulatorBase&) = delete;
  EmulatorBase& operator=(const EmulatorBase&) = delete;

  // Starts listening on 127.0.0.1:<port> (0: ephemeral). False on failure.
  bool start();
  void stop();
  std::string base_url() const;  // "http://127.0.0.1:<port>"

  FaultPlan& faults() { return faults_; }
  // Requests received for an operation ("" = all), including refused ones.
  int requests(const std::string& operation = "") const;

 protected:
  explicit EmulatorBase(uint16_t port) : port_(port) {}
  virtual void handle(const http::HttpRequest& req, http::ResponseWriter& w) = 0;
  void count_request(const std::string& operation);
  // Sends `r`: its status, Content-Type, extra headers and body.
  static void send_reply(http::ResponseWriter& w, const Reply& r);

  // The fault plumbing every emulator shares, called once the request's
  // operation `op` is known and its credentials are checked. Takes the fault
  // planned for `op` and answers it with `send`: the kinds the provider words
  // itself (NoCapacity, Throttle, ServerError, AuthFailure, Garbled) from
  // replies() (a ProviderFaultReplies, made only when a fault is taken),
  // GarbledError as a gateway's 502 HTML page.
  // Otherwise answers route()'s reply: after waiting out a Slow fault, and
  // for LoseAnswer with the work done but the answer held until the client
  // has given up.
  template <typename Send, typename Replies, typename Route>
  void serve(const std::string& op, http::ResponseWriter& w, const Send& send,
             const Replies& replies, const Route& route) {
    serve_with_faults(faults_, op, w, send, replies, route);
  }

  FaultPlan faults_;

 private:
  uint16_t port_;
  std::unique_ptr<http::HttpServer> server_;
  mutable std::mutex count_mu_;
  std::map<std::string, int> requests_;  // GUARDED_BY(count_mu_)
};

}  // namespace gpupool::emulators
