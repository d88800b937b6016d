#pragma once
// HttpClient: the behaviour every adapter shares on top of an HttpTransport:
//  - endpoint override (base_url) so tests and private gateways can redirect;
//  - a per-provider token-bucket rate limit (acquired before every attempt);
//  - retries with jittered exponential backoff for transient failures only:
//    connect errors, timeouts and broken connections (idempotent requests
//    only), 5xx (idempotent requests only) and 429; never for other 4xx;
//  - Retry-After (delta seconds or HTTP-date) honoured, and a per-provider
//    hook that recognises provider-specific throttling or "do not retry"
//    answers (AWS's RequestLimitExceeded 503, capacity errors sent as 500, ...);
//  - request/response log lines with every credential redacted (redact.h).
// Time comes from the injected Clock and waiting goes through the injected
// Sleeper, so tests never sleep.
//
// Thread safety: send() may be called from several threads at once; the
// transport, clock, sleeper and logger must be thread-safe too.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "operator/base/thread_annotations.h"
#include "operator/clock/clock.h"
#include "providers/http/transport.h"

namespace gpupool::net {

using Millis = std::chrono::milliseconds;

// Waits. The one place the HTTP layer blocks on time.
class Sleeper {
 public:
  virtual ~Sleeper() = default;
  virtual void sleep_for(Millis d) = 0;
  // True once the process is shutting down: waits end at once, and
  // HttpClient::send sends nothing more after one (it returns the last
  // outcome, or a Connect error "shutting down" when nothing was sent).
  virtual bool stopped() const { return false; }
};

// Really sleeps, until stop(): then every wait, under way or later, returns
// at once. Thread-safe.
class RealSleeper final : public Sleeper {
 public:
  void sleep_for(Millis d) override;
  bool stopped() const override;
  void stop();

 private:
  mutable Mutex mu_;
  std::condition_variable cv_;
  bool stopped_ GUARDED_BY(mu_) = false;
};

// Records every wait and moves a FakeClock forward instead of sleeping.
// FakeClock has one-second resolution, so fractions are carried over until
// they add up to whole seconds. Thread-safe.
class FakeSleeper final : public Sleeper {
 public:
  explicit FakeSleeper(FakeClock* clock = nullptr) : clock_(clock) {}
  void sleep_for(Millis d) override;
  Millis total() const;
  std::vector<Millis> waits() const;

 private:
  FakeClock* clock_;
  mutable Mutex mu_;
  std::vector<Millis> waits_ GUARDED_BY(mu_);
  Millis carry_ GUARDED_BY(mu_){0};
};

// Classic token bucket: `rate_per_second` tokens accrue per second up to
// `burst`; each request takes one. acquire() returns how long the caller
// must wait before sending (0 when a token was available); the token is
// reserved either way, so concurrent callers queue up fairly. A rate <= 0
// disables the limit. Thread-safe.
class TokenBucket {
 public:
  TokenBucket(const Clock& clock, double rate_per_second, double burst);
  Millis acquire();

 private:
  const Clock& clock_;
  double rate_;
  double burst_;
  Mutex mu_;
  double tokens_ GUARDED_BY(mu_);
  SteadyTime last_ GUARDED_BY(mu_);
};

// Parses a Retry-After value: delta seconds ("120") or an IMF-fixdate
// ("Sun, 06 Nov 1994 08:49:37 GMT", relative to `now`). nullopt when
// malformed; a date in the past gives 0.
std::optional<Millis> parse_retry_after(std::string_view value, Time now);

// What the per-provider hook says about a response.
struct RetryAdvice {
  enum class Action {
    Default,    // apply the generic rules (5xx / 429 retry, other statuses returned)
    Retry,      // a throttling or transient answer: retry (if attempts remain)
    DontRetry,  // return this response to the caller as it is
  };
  Action action = Action::Default;
  Millis delay{0};  // when > 0 and action is Retry: wait at least this long
};
using ResponseHook = std::function<RetryAdvice(const Response&)>;
using LogSink = std::function<void(std::string_view line)>;

struct ClientOptions {
  std::string provider;  // for log lines: "aws", "fluence", ...
  // Prepended to relative request URLs ("/gpu/plans/vms"). Absolute URLs are
  // sent unchanged.
  std::string base_url;
  int max_attempts = 4;  // total attempts, >= 1
  Millis initial_backoff{200};
  Millis max_backoff{Millis(20'000)};
  // Longest Retry-After the client waits out by itself; a longer one is
  // returned to the caller (who reports RateLimited with the hint).
  Millis max_retry_after{Millis(30'000)};
  double rate_per_second = 0;  // 0: unlimited
  double burst = 5;
  uint32_t jitter_seed = 0;  // 0: seeded from std::random_device
  ResponseHook hook;         // may be empty
  LogSink log;               // may be empty: no logging
};

// The final outcome of send(): the last response (any status; check it) or
// the last transport error. `attempts` and `retry_after` tell the caller what
// happened: retry_after is the server's hint from the last response (0: none).
struct Outcome {
  std::optional<Response> response;
  std::optional<TransportError> error;
  int attempts = 0;
  Millis retry_after{0};

  bool ok() const { return response.has_value(); }
};

class HttpClient {
 public:
  // Stores references: transport, clock and sleeper must outlive the client.
  HttpClient(HttpTransport& transport, const Clock& clock, Sleeper& sleeper, ClientOptions options);

  Outcome send(Request request);
  // Number of requests put on the wire so far (all attempts), for tests and
  // metrics.
  int64_t requests_sent() const;
  const ClientOptions& options() const { return options_; }

 private:
  Millis backoff(int attempt);
  void log_request(const Request& r, int attempt) const;
  void log_response(const Request& r, const TransportResult& res, Millis took) const;

  HttpTransport& transport_;
  const Clock& clock_;
  Sleeper& sleeper_;
  ClientOptions options_;
  TokenBucket bucket_;
  mutable Mutex mu_;
  std::mt19937 rng_ GUARDED_BY(mu_);
  int64_t sent_ GUARDED_BY(mu_) = 0;
};

}  // namespace gpupool::net
