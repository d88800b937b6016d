#include "providers/http/fake_transport.h"

namespace gpupool::net {

void FakeTransport::set_handler(Handler handler) {
  MutexLock lock(mu_);
  handler_ = std::move(handler);
}

void FakeTransport::push(Response response) {
  MutexLock lock(mu_);
  queue_.emplace_back(std::move(response));
}

void FakeTransport::push_error(TransportErrorKind kind, std::string message) {
  MutexLock lock(mu_);
  queue_.emplace_back(fail(TransportError{kind, std::move(message)}));
}

TransportResult FakeTransport::send(const Request& request) {
  Handler handler;
  {
    MutexLock lock(mu_);
    requests_.push_back(request);
    if (!queue_.empty()) {
      TransportResult r = std::move(queue_.front());
      queue_.pop_front();
      return r;
    }
    handler = handler_;
  }
  if (handler) return handler(request);
  return fail(TransportError{TransportErrorKind::Connect, "fake transport: nothing scripted"});
}

std::vector<Request> FakeTransport::requests() const {
  MutexLock lock(mu_);
  return requests_;
}

size_t FakeTransport::request_count() const {
  MutexLock lock(mu_);
  return requests_.size();
}

Response make_response(int status, std::string body, Headers headers) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  r.headers = std::move(headers);
  return r;
}

}  // namespace gpupool::net
