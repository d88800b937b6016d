#include "tests/emulators/common/emulator_base.h"

#include <algorithm>

namespace gpupool::emulators {

int to_int(const std::string& s, int fallback) {
  if (s.empty() || s.size() > 6 ||
      !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return fallback;
  }
  return std::stoi(s);
}

std::vector<std::pair<std::string, std::string>> retry_after_header(
    std::chrono::seconds retry_after) {
  if (retry_after.count() <= 0) return {};
  return {{"Retry-After", std::to_string(retry_after.count())}};
}

Reply answer_fault(const ProviderFaultReplies& replies, const Fault& fault) {
  switch (fault.kind) {
    case FaultKind::NoCapacity:
      return replies.no_capacity;
    case FaultKind::Throttle: {
      Reply r = replies.throttle;
      if (replies.throttle_headers) {
        for (auto& h : replies.throttle_headers(fault.retry_after))
          r.headers.push_back(std::move(h));
      }
      return r;
    }
    case FaultKind::ServerError:
      return replies.server_error;
    case FaultKind::AuthFailure:
      return replies.auth_failure;
    case FaultKind::Garbled:
    default:  // serve_with_faults() answers the other kinds
      return replies.garbled;
  }
}

std::string operation_of(const http::HttpRequest& req, std::initializer_list<RouteRule> routes) {
  for (const RouteRule& r : routes) {
    if (req.method != r.method) continue;
    if (r.under ? req.path.starts_with(r.path) : req.path == r.path) return std::string(r.op);
  }
  return "";
}

bool EmulatorBase::start() {
  http::HttpServerOptions so;
  so.port = port_;
  server_ = std::make_unique<http::HttpServer>(
      [this](const http::HttpRequest& req, http::ResponseWriter& w) { handle(req, w); }, so);
  return server_->start().ok();
}

void EmulatorBase::send_reply(http::ResponseWriter& w, const Reply& r) {
  http::Headers h{{"Content-Type", r.content_type}};
  for (const auto& [k, v] : r.headers)
    h.add(k, v);
  w.send(r.status, h, r.body);
}

void EmulatorBase::stop() {
  if (server_) server_->stop();
}

std::string EmulatorBase::base_url() const {
  return server_ ? server_->base_url() : std::string();
}

int EmulatorBase::requests(const std::string& operation) const {
  std::lock_guard<std::mutex> lock(count_mu_);
  if (!operation.empty()) {
    auto it = requests_.find(operation);
    return it == requests_.end() ? 0 : it->second;
  }
  int n = 0;
  for (const auto& [k, v] : requests_)
    n += v;
  return n;
}

void EmulatorBase::count_request(const std::string& operation) {
  std::lock_guard<std::mutex> lock(count_mu_);
  ++requests_[operation];
}

}  // namespace gpupool::emulators
