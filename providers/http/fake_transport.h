#pragma once
// FakeTransport: the in-memory HttpTransport for unit tests. Answers come
// from a handler function, or from a queue of scripted results consumed in
// order (the queue wins while it is not empty). Every request is recorded.
// Thread-safe.

#include <deque>
#include <functional>
#include <mutex>
#include <vector>

#include "operator/base/thread_annotations.h"
#include "providers/http/transport.h"

namespace gpupool::net {

class FakeTransport final : public HttpTransport {
 public:
  using Handler = std::function<TransportResult(const Request&)>;

  void set_handler(Handler handler);
  void push(Response response);
  void push_error(TransportErrorKind kind, std::string message = "scripted failure");
  TransportResult send(const Request& request) override;

  std::vector<Request> requests() const;
  size_t request_count() const;

 private:
  mutable Mutex mu_;
  Handler handler_ GUARDED_BY(mu_);
  std::deque<TransportResult> queue_ GUARDED_BY(mu_);
  std::vector<Request> requests_ GUARDED_BY(mu_);
};

// Shorthand for a scripted response.
Response make_response(int status, std::string body = {}, Headers headers = {});

}  // namespace gpupool::net
