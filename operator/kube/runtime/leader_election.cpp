#include "operator/kube/runtime/leader_election.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

namespace gpupool::kube {

std::string format_micro_time(MicroTime t) {
  const auto whole = std::chrono::floor<std::chrono::seconds>(t);
  const auto micros = (t - whole).count();  // 0..999999
  std::string s = format_rfc3339(whole);    // "...:SSZ"
  char frac[8];
  std::snprintf(frac, sizeof frac, ".%06lld", static_cast<long long>(micros));
  s.insert(s.size() - 1, frac);
  return s;
}

std::optional<MicroTime> parse_micro_time(std::string_view text) {
  Time whole{};
  if (!parse_rfc3339(text, whole)) return std::nullopt;
  // parse_rfc3339 checked the shape; the fraction, if any, starts right
  // after the seconds ("YYYY-MM-DDTHH:MM:SS" is 19 characters).
  constexpr size_t kSecondsEnd = 19;
  int64_t micros = 0;
  if (text.size() > kSecondsEnd && text[kSecondsEnd] == '.') {
    int digits = 0;
    for (size_t i = kSecondsEnd + 1;
         i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i, ++digits) {
      if (digits < 6) micros = micros * 10 + (text[i] - '0');
    }
    if (digits == 0) return std::nullopt;
    for (int d = digits; d < 6; ++d)
      micros *= 10;
  }
  return MicroTime{whole} + std::chrono::microseconds(micros);
}

Status<LeaderElectionError> LeaderElector::validate(const LeaderElectionConfig& c) {
  auto bad = [](std::string m) { return fail(LeaderElectionError{std::move(m)}); };
  if (c.identity.empty()) return bad("leader election identity must not be empty");
  if (c.lease_name.empty() || c.lease_namespace.empty()) {
    return bad("leader election needs a lease name and namespace");
  }
  if (c.lease_duration <= c.renew_deadline) {
    return bad("leaseDuration must be greater than renewDeadline");
  }
  if (c.retry_period.count() <= 0) return bad("retryPeriod must be positive");
  // renewDeadline > 1.2 * retryPeriod, in integer arithmetic.
  if (c.renew_deadline.count() * 10 <= c.retry_period.count() * 12) {
    return bad("renewDeadline must be greater than retryPeriod*1.2");
  }
  return {};
}

LeaderElector::LeaderElector(KubeApi& api, const Clock& clock, LeaderElectionConfig config)
    : api_(api), clock_(clock), config_(std::move(config)) {}

LeaderElector::~LeaderElector() {
  stop();
}

bool LeaderElector::holds_lease() const {
  return leader_.load() &&
         clock_.steady_now().time_since_epoch().count() < lease_valid_until_.load();
}

std::string LeaderElector::observed_leader() const {
  MutexLock lock(mu_);
  return observed_holder_;
}

void LeaderElector::observe(const Json& lease) {
  const Json spec = lease.value("spec", Json::object());
  if (spec != observed_spec_) {
    observed_spec_ = spec;
    observed_time_ = clock_.steady_now();
  }
  observed_holder_ = spec.value("holderIdentity", "");
  observed_ = lease;
}

Json LeaderElector::record(const Json* old, bool keep_acquire) const {
  const std::string now = format_micro_time(clock_.now_micro());
  Json spec = {{"holderIdentity", config_.identity},
               {"leaseDurationSeconds", config_.lease_duration.count()},
               {"acquireTime", now},
               {"renewTime", now},
               {"leaseTransitions", 0}};
  if (old != nullptr) {
    const Json old_spec = old->value("spec", Json::object());
    const int64_t transitions = old_spec.value("leaseTransitions", int64_t{0});
    if (keep_acquire) {
      spec["leaseTransitions"] = transitions;
      if (old_spec.contains("acquireTime")) spec["acquireTime"] = old_spec["acquireTime"];
    } else {
      spec["leaseTransitions"] = transitions + 1;
    }
  }
  return spec;
}

bool LeaderElector::try_acquire_or_renew() {
  attempts_.fetch_add(1);
  const auto& leases = resources::kLeases;
  const std::string prev_holder = observed_leader();
  // The fence is measured from before the request: the lease the server
  // stores is at least this fresh.
  const SteadyTime started = clock_.steady_now();
  auto finish = [&](bool leading, const std::string& holder) {
    if (leading) {
      lease_valid_until_.store((started + config_.renew_deadline).time_since_epoch().count());
    }
    leader_.store(leading);
    if (holder != prev_holder && !holder.empty() && config_.on_new_leader) {
      config_.on_new_leader(holder);
    }
    return leading;
  };
  // Fast path: we lead and our copy is fresh; renew on top of it.
  std::optional<Json> cached;
  {
    MutexLock lock(mu_);
    if (leader_.load() && observed_ &&
        observed_time_ + config_.lease_duration > clock_.steady_now()) {
      cached = observed_;
    }
  }
  if (cached) {
    Json next = *cached;
    next["spec"] = record(&*cached, true);
    auto r = api_.update(leases, next);
    if (r) {
      MutexLock lock(mu_);
      observe(*r);
      return finish(true, config_.identity);
    }
  }
  auto got = api_.get(leases, config_.lease_namespace, config_.lease_name);
  if (!got) {
    if (got.error().kind != ErrorKind::NotFound) return finish(false, prev_holder);
    Json lease = {
        {"apiVersion", "coordination.k8s.io/v1"},
        {"kind", "Lease"},
        {"metadata", {{"name", config_.lease_name}, {"namespace", config_.lease_namespace}}},
        {"spec", record(nullptr, false)}};
    auto created = api_.create(leases, config_.lease_namespace, lease);
    if (!created) return finish(false, prev_holder);
    MutexLock lock(mu_);
    observe(*created);
    return finish(true, config_.identity);
  }
  std::string holder;
  int64_t duration = config_.lease_duration.count();
  bool expired = false;
  {
    MutexLock lock(mu_);
    observe(*got);
    holder = observed_holder_;
    const Json spec = got->value("spec", Json::object());
    duration = spec.value("leaseDurationSeconds", duration);
    expired = observed_time_ + std::chrono::seconds(duration) <= clock_.steady_now();
  }
  if (!holder.empty() && holder != config_.identity && !expired) return finish(false, holder);
  Json next = *got;
  next["spec"] = record(&*got, holder == config_.identity);
  auto updated = api_.update(leases, next);
  if (!updated) return finish(false, holder);
  MutexLock lock(mu_);
  observe(*updated);
  return finish(true, config_.identity);
}

bool LeaderElector::release() {
  std::optional<Json> cached;
  {
    MutexLock lock(mu_);
    cached = observed_;
  }
  if (!leader_.load() || !cached) return false;
  Json next = *cached;
  const std::string now = format_micro_time(clock_.now_micro());
  next["spec"]["holderIdentity"] = "";
  next["spec"]["leaseDurationSeconds"] = 1;
  next["spec"]["acquireTime"] = now;
  next["spec"]["renewTime"] = now;
  auto r = api_.update(resources::kLeases, next);
  leader_.store(false);
  if (!r) return false;
  MutexLock lock(mu_);
  observe(*r);
  return true;
}

void LeaderElector::start() {
  MutexLock lock(mu_);
  if (thread_.joinable() || stopping_) return;
  thread_ = std::thread([this] { run(); });
}

void LeaderElector::stop() {
  {
    MutexLock lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void LeaderElector::clock_advanced() {
  cv_.notify_all();
}

bool LeaderElector::wait_until(SteadyTime deadline) {
  MutexLock lock(mu_);
  while (!stopping_) {
    const SteadyTime now = clock_.steady_now();
    if (now >= deadline) return true;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
    lock.wait_for(cv_, std::clamp(left, std::chrono::milliseconds(1), config_.poll_interval));
  }
  return false;
}

void LeaderElector::run() {
  // Attempts are scheduled on a fixed grid (attempt time + retry_period) read
  // before each attempt, so a clock moved during an attempt is not lost.
  SteadyTime attempt_at = clock_.steady_now();
  while (!try_acquire_or_renew()) {
    attempt_at += config_.retry_period;
    if (!wait_until(attempt_at)) return;
  }
  SteadyTime last_ok = attempt_at;
  if (config_.on_started_leading) config_.on_started_leading();
  bool stopped = false;
  for (;;) {
    attempt_at += config_.retry_period;
    if (!wait_until(attempt_at)) {
      stopped = true;
      break;
    }
    if (try_acquire_or_renew()) {
      last_ok = attempt_at;
      continue;
    }
    // client-go: give up when renewals keep failing for renew_deadline
    // (measured from the first renewal due after the last success).
    if (clock_.steady_now() >= last_ok + config_.retry_period + config_.renew_deadline) break;
  }
  if (stopped && config_.release_on_cancel) {
    (void)release();
  }
  leader_.store(false);
  if (config_.on_stopped_leading) config_.on_stopped_leading();
}

}  // namespace gpupool::kube
