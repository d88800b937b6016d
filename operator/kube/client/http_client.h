#pragma once
// HttpKubeClient: KubeApi over HTTP(S) with libcurl, for a real API server or
// the test API server (tests/apiserver).
//
// Transport: a small pool of curl easy handles reused across calls (keep-alive
// per handle); each watch has its own handle driven by a curl multi handle on
// the consumer's thread, so WatchStream::cancel() wakes it at once through
// curl_multi_wakeup. TLS is verified against ClientConfig::ca_pem (or the
// system store) unless insecure_skip_tls_verify; client certificates and
// bearer tokens come from the CredentialSource per request. Credentials are
// never logged or put into error messages.
//
// Error mapping (every failure becomes an ApiError, nothing throws):
//   non-2xx          -> from_status_json(body, code) (kind from Status.reason
//                       or the HTTP code; Retry-After -> retry_after_seconds)
//   connect/TLS/recv -> Unavailable         request deadline -> Timeout
//   2xx with garbage -> Internal ("invalid JSON ...")
//   credential plugin failure -> Unauthorized
//
// Retries (only where repeating cannot do harm):
//   429 with Retry-After -> wait (capped by max_retry_wait) and retry, any verb,
//                           at most max_retries times (the server did nothing);
//   connection refused / reset before a response -> retry GET/list only;
//   401 with a refreshable credential (exec plugin, token file) -> refresh once.
// Rate limiting: ClientConfig::qps / burst token bucket before every request
// (watch start included).
//
// Thread-safety: all verbs may be called concurrently.

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "operator/base/thread_annotations.h"
#include "operator/clock/clock.h"
#include "operator/kube/api/api.h"
#include "operator/kube/client/config.h"
#include "operator/kube/client/rate_limiter.h"

namespace gpupool::kube {

// "/api/v1/namespaces/ns/pods/name/status"; name and subresource optional.
// Namespace is only used for namespaced resources and when non-empty.
std::string resource_path(const Resource& r, const std::string& ns, const std::string& name = "",
                          const std::string& subresource = "");
// "?a=b&c=d" with percent-encoding, "" when empty.
std::string query_string(const std::vector<std::pair<std::string, std::string>>& params);
// Percent-encodes everything but unreserved characters (RFC 3986).
std::string url_escape(std::string_view s);

class HttpKubeClient final : public KubeApi {
 public:
  struct Options {
    int max_retries = 3;
    std::chrono::milliseconds max_retry_wait{10'000};  // cap on one Retry-After wait
    std::chrono::milliseconds retry_backoff{200};      // wait before a GET retry
    std::chrono::seconds default_watch_timeout{300};   // timeoutSeconds when unset
  };

  HttpKubeClient(ClientConfig config, const Clock& clock);
  HttpKubeClient(ClientConfig config, const Clock& clock, Options options);
  ~HttpKubeClient() override;
  HttpKubeClient(const HttpKubeClient&) = delete;

  // Shutdown: wakes every request sleeping in the rate limiter or a retry
  // backoff, aborts requests in flight (watches included), and makes every
  // later request fail at once with Unavailable "client shut down". For the
  // end of the process, when nothing more should reach the API server (or
  // the server is gone and waiting on it would hold the exit). Irreversible.
  void shutdown();
  bool shut_down() const { return shut_down_.load(); }
  HttpKubeClient& operator=(const HttpKubeClient&) = delete;

  ApiResult<Json> get(const Resource& r, const std::string& ns, const std::string& name,
                      const GetOptions& opts = {}) override;
  ApiResult<ObjectList> list(const Resource& r, const std::string& ns,
                             const ListOptions& opts = {}) override;
  ApiResult<Json> create(const Resource& r, const std::string& ns, const Json& obj,
                         const CreateOptions& opts = {}) override;
  ApiResult<Json> update(const Resource& r, const Json& obj,
                         const UpdateOptions& opts = {}) override;
  ApiResult<Json> patch(const Resource& r, const std::string& ns, const std::string& name,
                        PatchType type, const Json& patch, const PatchOptions& opts = {}) override;
  ApiResult<DeleteResult> remove(const Resource& r, const std::string& ns, const std::string& name,
                                 const DeleteOptions& opts = {}) override;
  ApiResult<std::unique_ptr<WatchStream>> watch(const Resource& r, const std::string& ns,
                                                const WatchOptions& opts = {}) override;

  // GET of an arbitrary path ("/version"), answer parsed as JSON.
  ApiResult<Json> get_path(const std::string& path_and_query);

  const ClientConfig& config() const { return config_; }
  uint64_t requests_total() const { return requests_.load(); }
  uint64_t retries_total() const { return retries_.load(); }

  struct Request;  // internal
  struct Response;
  class Pool;

 private:
  ApiResult<Json> call(Request& req);
  ApiResult<Response> send(Request& req);
  // Sleeps `d` unless shutdown() comes first; false when it did.
  bool pause(std::chrono::milliseconds d);
  // Takes a rate-limiter token, waiting interruptibly; false on shutdown.
  bool take_token();

  ClientConfig config_;
  const Clock& clock_;
  Options options_;
  TokenBucket limiter_;
  std::unique_ptr<Pool> pool_;
  std::atomic<uint64_t> requests_{0};
  std::atomic<uint64_t> retries_{0};
  std::atomic<bool> shut_down_{false};
  Mutex sleep_mu_;
  std::condition_variable sleep_cv_;
};

}  // namespace gpupool::kube
