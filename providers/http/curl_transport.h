#pragma once
// CurlTransport: HttpTransport over libcurl. Keeps a small pool of easy
// handles so connections (and TLS sessions) are reused across requests.
// TLS verification is always on (peer and host); ca_file overrides the
// system CA bundle (for private gateways and tests). Thread-safe: each
// in-flight request holds its own handle.

#include <chrono>
#include <mutex>
#include <string>
#include <vector>

#include "operator/base/thread_annotations.h"
#include "providers/http/transport.h"

namespace gpupool::net {

struct CurlOptions {
  std::chrono::milliseconds connect_timeout{5'000};
  std::chrono::milliseconds total_timeout{30'000};
  std::string ca_file;  // empty: system default
  std::string user_agent = "gpupool-operator";
  size_t max_idle_handles = 8;
  size_t max_response_bytes = 16 * 1024 * 1024;  // larger answers fail as Broken
};

class CurlTransport final : public HttpTransport {
 public:
  explicit CurlTransport(CurlOptions options = {});
  ~CurlTransport() override;
  CurlTransport(const CurlTransport&) = delete;
  CurlTransport& operator=(const CurlTransport&) = delete;

  TransportResult send(const Request& request) override;

 private:
  void* take_handle();
  void give_back(void* handle);

  CurlOptions options_;
  Mutex mu_;
  std::vector<void*> idle_ GUARDED_BY(mu_);  // CURL* handles
};

}  // namespace gpupool::net
