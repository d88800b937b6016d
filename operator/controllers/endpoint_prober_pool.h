#pragma once
// Health checks off the reconcile workers (issue 13): a small, bounded pool
// of threads that run EndpointProber::probe() for the instance reconciler.
// A machine whose address drops packets then holds one prober thread for up
// to its timeoutSeconds, never one of the operator's few reconcile workers,
// so other pools keep converging while it is probed.
//
// How the instance reconciler uses it, on each pass over a Running or Ready
// Endpoint-mode instance (key "namespace/name"):
//   1. take(key): the result of a probe that finished since the last pass,
//      handed out exactly once, so the state machine
//      (operator/core/endpoint_health.h) counts every answer once;
//   2. when a probe is due and pending(key) is false, start(key, url,
//      timeout), and return at once;
//   3. the probe's completion calls on_done(key) (the manager: enqueue the
//      instance on its controller), so the result is used without waiting
//      for a poll.
// The probe time that counts is when the GET *started*: Completed::started,
// read from the clock on the prober thread just before the GET, not when
// start() queued it nor when take() read it. Probes of one machine are so
// spaced one period apart however long each took to answer.
//
// Rules:
//  * One per key: a key has at most one probe queued, in flight, or finished
//    and not yet taken; start() answers AlreadyPending for another.
//  * forget(key) drops all a key has: a queued probe, the result of one in
//    flight when it finishes (on_done is not called for it), a result not
//    yet taken. The reconciler forgets deleted, failed and parked instances.
//  * Bounded memory: at most Options::max_keys keys at once; start() answers
//    Full beyond that and the caller tries again on a later pass. A key
//    holds its URL and one result (a short detail, never an answer's body).
//  * Probes run in the order they were started, on Options::threads threads.
//  * stop(): drops queued probes and results; after it returns no probe
//    starts and on_done is never called again. It waits for probes in flight
//    at most the longest timeout among them, and never more than
//    Options::max_stop_wait: the HTTP prober honours its timeout, so its
//    threads are normally joined; a probe that overstays is left on its
//    (detached) thread, which shares ownership of the prober and drops the
//    result.
//
// Thread-safety: every method may be called from any thread. on_done runs on
// a prober thread and must not block (enqueueing a key is what it is for).

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "operator/clock/clock.h"
#include "operator/controllers/endpoint_prober.h"
#include "operator/core/endpoint_health.h"

namespace gpupool::controllers {

class ProbePool {
 public:
  struct Options {
    int threads = 4;          // 1..kMaxThreads
    size_t max_keys = 10000;  // >= 1
    std::chrono::milliseconds max_stop_wait{2000};
  };
  static constexpr int kMaxThreads = 64;

  // A finished probe.
  struct Completed {
    std::string url;  // what was probed (the machine's address may have moved since)
    health::Probe probe;
    Time started{};  // when the GET started: the probe time that counts
  };

  enum class Started { Queued, AlreadyPending, Full, Stopped };

  using OnDone = std::function<void(const std::string& key)>;

  // REQUIRES: prober non-null; valid(options) is empty. `clock` must outlive
  // stop(). on_done may be empty.
  ProbePool(std::shared_ptr<EndpointProber> prober, const Clock& clock, Options options,
            OnDone on_done);
  ~ProbePool();  // stop()
  ProbePool(const ProbePool&) = delete;
  ProbePool& operator=(const ProbePool&) = delete;

  // Why `options` cannot be used ("threads must be 1..64"), or "" when it can.
  static std::string invalid(const Options& options);

  // Queues a GET of `url` within `timeout` for `key`.
  Started start(const std::string& key, const std::string& url, Duration timeout);
  // Whether `key` has a probe queued, in flight, or finished and not taken.
  bool pending(const std::string& key) const;
  // The finished probe of `key`, once; nullopt while none has finished.
  std::optional<Completed> take(const std::string& key);
  // Drops everything `key` has (see the rules above).
  void forget(const std::string& key);
  // Idempotent; see the rules above.
  void stop();

  const EndpointProber& prober() const { return *prober_; }
  // Keys held now (queued, in flight or finished), for tests.
  size_t size() const;

  struct State;

 private:
  std::shared_ptr<EndpointProber> prober_;
  std::shared_ptr<State> state_;
  std::vector<std::thread> threads_;
};

}  // namespace gpupool::controllers
