#pragma once
// Leader election over a coordination.k8s.io/v1 Lease, following client-go's
// leaderelection package (reference §5.2):
//  - A candidate takes the lease when it does not exist, is held by nobody, or
//    its holder has not changed it for leaseDurationSeconds as observed on
//    this candidate's own clock (not the lease's renewTime).
//  - Taking over from another holder increments leaseTransitions and sets
//    acquireTime; renewing keeps both and moves renewTime.
//  - Writes use the fetched resourceVersion, so two candidates racing for the
//    lease cannot both win (the loser gets Conflict).
//  - The leader renews every retry_period; if no renewal succeeds within
//    renew_deadline it stops leading and calls on_stopped_leading (which
//    should stop the controllers and end the process, as controller-runtime
//    does). It does not campaign again: a fresh process does.
//  - holds_lease() is the fence for writes: true only while the last
//    successful acquire/renew attempt *started* less than renew_deadline ago
//    (monotonic clock). Another candidate needs lease_duration (>
//    renew_deadline) after it last saw the lease change, which came after
//    that start, so the two never both see true. A process that was paused
//    (SIGSTOP) or whose renewals hang answers false as soon as it runs
//    again, before the elector thread has even noticed.
//  - release_on_cancel: stop() while leading writes an empty holderIdentity
//    with leaseDurationSeconds 1 so another candidate can take over at once.
// Times in the Lease are MicroTime ("2026-11-22T02:10:42.123456Z"), from
// Clock::now_micro().
//
// Time comes from the injected Clock: observed expiry uses steady_now(),
// lease timestamps use now(). Waits re-read the clock at least every
// poll_interval of real time; clock_advanced() wakes them at once.
//
// Thread-safety: start()/stop() from the owner; the rest from any thread.
// Callbacks run on the elector's thread.

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "operator/base/thread_annotations.h"
#include "operator/clock/clock.h"
#include "operator/kube/api/api.h"

namespace gpupool::kube {

struct LeaderElectionConfig {
  std::string lease_namespace;
  std::string lease_name;
  std::string identity;  // unique per candidate, e.g. "<hostname>_<uuid>"
  Duration lease_duration{15};
  Duration renew_deadline{10};
  Duration retry_period{2};
  bool release_on_cancel = false;
  std::chrono::milliseconds poll_interval{200};
  std::function<void()> on_started_leading;
  std::function<void()> on_stopped_leading;
  std::function<void(const std::string& identity)> on_new_leader;
};

struct LeaderElectionError {
  std::string message;
};

// metav1.MicroTime text, RFC 3339 in UTC with exactly six fractional digits
// ("2026-11-22T02:10:42.123456Z"); a Time converts without loss.
std::string format_micro_time(MicroTime t);
// Parses MicroTime (and any RFC 3339 time the API server may return: no
// fraction, 1-9 fractional digits, Z or a numeric offset), keeping
// microseconds (digits past the sixth are truncated). nullopt when malformed.
std::optional<MicroTime> parse_micro_time(std::string_view text);

class LeaderElector {
 public:
  // Checks lease_duration > renew_deadline > 1.2 * retry_period and that
  // identity and lease name are set.
  static Status<LeaderElectionError> validate(const LeaderElectionConfig& config);

  LeaderElector(KubeApi& api, const Clock& clock, LeaderElectionConfig config);
  ~LeaderElector();  // stop()
  LeaderElector(const LeaderElector&) = delete;
  LeaderElector& operator=(const LeaderElector&) = delete;

  // Runs the campaign on a background thread. REQUIRES: validate(config).
  void start();
  // Ends the campaign; releases the lease when configured and leading; calls
  // on_stopped_leading if it was leading. Idempotent.
  void stop();
  void clock_advanced();

  bool is_leader() const { return leader_.load(); }
  // The write fence (see above): leading, and the last successful attempt
  // started less than renew_deadline ago on the monotonic clock.
  bool holds_lease() const;
  // Calls of try_acquire_or_renew() so far (tests wait on it).
  uint64_t attempts_total() const { return attempts_.load(); }
  // Holder as last observed ("" when unknown or free).
  std::string observed_leader() const;

  // One step of the algorithm (exposed so tests can drive it with a
  // FakeClock without threads). Returns true when this candidate holds the
  // lease afterwards.
  bool try_acquire_or_renew();
  // Releases the lease if this candidate holds it. Returns success.
  bool release();

 private:
  void run();
  // Waits until the clock reaches `deadline` or stop(); false if stopping.
  bool wait_until(SteadyTime deadline);
  Json record(const Json* old, bool keep_acquire) const;
  void observe(const Json& lease) REQUIRES(mu_);

  KubeApi& api_;
  const Clock& clock_;
  LeaderElectionConfig config_;
  std::atomic<bool> leader_{false};
  std::atomic<uint64_t> attempts_{0};
  // steady_clock ticks until which holds_lease() may answer true.
  std::atomic<SteadyTime::rep> lease_valid_until_{0};

  mutable Mutex mu_;
  std::condition_variable cv_;
  bool stopping_ GUARDED_BY(mu_) = false;
  std::string observed_holder_ GUARDED_BY(mu_);
  std::optional<Json> observed_ GUARDED_BY(mu_);  // last lease we read or wrote
  Json observed_spec_ GUARDED_BY(mu_);            // spec compared for changes
  SteadyTime observed_time_ GUARDED_BY(mu_){};
  std::thread thread_;
};

}  // namespace gpupool::kube
