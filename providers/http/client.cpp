#include "providers/http/client.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <ctime>
#include <thread>

#include "providers/http/redact.h"

namespace gpupool::net {

void RealSleeper::sleep_for(Millis d) {
  if (d.count() <= 0) return;
  MutexLock lock(mu_);
  lock.wait_for(cv_, d, [this]() REQUIRES(mu_) { return stopped_; });
}

bool RealSleeper::stopped() const {
  MutexLock lock(mu_);
  return stopped_;
}

void RealSleeper::stop() {
  {
    MutexLock lock(mu_);
    stopped_ = true;
  }
  cv_.notify_all();
}

void FakeSleeper::sleep_for(Millis d) {
  MutexLock lock(mu_);
  waits_.push_back(d);
  carry_ += d;
  auto whole = std::chrono::duration_cast<std::chrono::seconds>(carry_);
  if (clock_ != nullptr && whole.count() > 0) {
    clock_->advance(whole);
    carry_ -= whole;
  }
}

Millis FakeSleeper::total() const {
  MutexLock lock(mu_);
  Millis sum{0};
  for (auto w : waits_)
    sum += w;
  return sum;
}

std::vector<Millis> FakeSleeper::waits() const {
  MutexLock lock(mu_);
  return waits_;
}

TokenBucket::TokenBucket(const Clock& clock, double rate_per_second, double burst)
    : clock_(clock),
      rate_(rate_per_second),
      burst_(std::max(1.0, burst)),
      tokens_(std::max(1.0, burst)),
      last_(clock.steady_now()) {}

Millis TokenBucket::acquire() {
  if (rate_ <= 0) return Millis(0);
  MutexLock lock(mu_);
  SteadyTime now = clock_.steady_now();
  if (now > last_) {
    double elapsed = std::chrono::duration<double>(now - last_).count();
    tokens_ = std::min(burst_, tokens_ + elapsed * rate_);
    last_ = now;
  }
  tokens_ -= 1.0;
  if (tokens_ >= 0) return Millis(0);
  return Millis(static_cast<int64_t>(std::ceil(-tokens_ / rate_ * 1000.0)));
}

std::optional<Millis> parse_retry_after(std::string_view value, Time now) {
  while (!value.empty() && value.front() == ' ')
    value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ')
    value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    int64_t secs = 0;
    auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), secs);
    if (ec != std::errc() || ptr != value.data() + value.size() || secs > int64_t{86'400} * 365)
      return std::nullopt;
    return Millis(secs * int64_t{1000});
  }
  // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
  static constexpr std::string_view kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  if (value.size() != 29 || value[3] != ',' || value.substr(26) != "GMT") return std::nullopt;
  auto num = [&](size_t pos, size_t len, int& out) {
    auto [ptr, ec] = std::from_chars(value.data() + pos, value.data() + pos + len, out);
    return ec == std::errc() && ptr == value.data() + pos + len;
  };
  int day = 0, year = 0, hh = 0, mm = 0, ss = 0;
  if (!num(5, 2, day) || !num(12, 4, year) || !num(17, 2, hh) || !num(20, 2, mm) ||
      !num(23, 2, ss)) {
    return std::nullopt;
  }
  std::string_view mon = value.substr(8, 3);
  int month = 0;
  for (int i = 0; i < 12; ++i) {
    if (kMonths[i] == mon) month = i + 1;
  }
  if (month == 0 || hh > 23 || mm > 59 || ss > 60) return std::nullopt;
  std::chrono::year_month_day ymd{std::chrono::year(year),
                                  std::chrono::month(static_cast<unsigned>(month)),
                                  std::chrono::day(static_cast<unsigned>(day))};
  if (!ymd.ok()) return std::nullopt;
  Time at = std::chrono::sys_days(ymd) + std::chrono::hours(hh) + std::chrono::minutes(mm) +
            std::chrono::seconds(ss);
  if (at <= now) return Millis(0);
  return std::chrono::duration_cast<Millis>(at - now);
}

HttpClient::HttpClient(HttpTransport& transport, const Clock& clock, Sleeper& sleeper,
                       ClientOptions options)
    : transport_(transport),
      clock_(clock),
      sleeper_(sleeper),
      options_(std::move(options)),
      bucket_(clock, options_.rate_per_second, options_.burst),
      rng_(options_.jitter_seed != 0 ? options_.jitter_seed : std::random_device{}()) {
  if (options_.max_attempts < 1) options_.max_attempts = 1;
}

int64_t HttpClient::requests_sent() const {
  MutexLock lock(mu_);
  return sent_;
}

Millis HttpClient::backoff(int attempt) {
  // Equal jitter: half the exponential step is fixed, half random, so a retry
  // never comes immediately yet concurrent clients spread out.
  double cap = static_cast<double>(options_.initial_backoff.count()) * std::pow(2.0, attempt - 1);
  cap = std::min(cap, static_cast<double>(options_.max_backoff.count()));
  MutexLock lock(mu_);
  std::uniform_real_distribution<double> dist(cap / 2, cap);
  return Millis(static_cast<int64_t>(dist(rng_)));
}

void HttpClient::log_request(const Request& r, int attempt) const {
  if (!options_.log) return;
  std::string line = "http " + options_.provider + " -> " + r.method + " " + redact_url(r.url) +
                     " attempt=" + std::to_string(attempt);
  for (const auto& [k, v] : redact_headers(r.headers))
    line.append(" [").append(k).append(": ").append(v).append("]");
  if (!r.body.empty())
    line += " body=" + redact_body(r.body, find_header(r.headers, "content-type"));
  options_.log(line);
}

void HttpClient::log_response(const Request& r, const TransportResult& res, Millis took) const {
  if (!options_.log) return;
  std::string line = "http " + options_.provider + " <- " + r.method + " " + redact_url(r.url);
  if (!res.ok()) {
    line += " error=" + std::string(to_string(res.error().kind)) + " (" + res.error().message + ")";
  } else {
    const Response& resp = res.value();
    line += " status=" + std::to_string(resp.status);
    for (const auto& [k, v] : redact_headers(resp.headers)) {
      if (iequals(k, "retry-after") || iequals(k, "content-type") || is_sensitive_header(k)) {
        line.append(" [").append(k).append(": ").append(v).append("]");
      }
    }
    if (!resp.body.empty()) {
      line += " body=" + redact_body(resp.body, find_header(resp.headers, "content-type"), 2048);
    }
  }
  line += " took_ms=" + std::to_string(took.count());
  options_.log(line);
}

Outcome HttpClient::send(Request request) {
  if (!request.url.empty() && request.url.front() == '/')
    request.url = options_.base_url + request.url;
  Outcome out;
  for (int attempt = 1; attempt <= options_.max_attempts; ++attempt) {
    Millis wait = bucket_.acquire();
    if (wait.count() > 0) sleeper_.sleep_for(wait);
    // Shutting down: a request that had to wait is not sent (one that did
    // not wait still is, so in-flight work can finish).
    if (sleeper_.stopped() && (wait.count() > 0 || attempt > 1)) {
      if (!out.response && !out.error) {
        out.error = TransportError{TransportErrorKind::Connect, "shutting down: request not sent"};
      }
      return out;
    }
    log_request(request, attempt);
    SteadyTime start = clock_.steady_now();
    TransportResult res = transport_.send(request);
    {
      MutexLock lock(mu_);
      ++sent_;
    }
    log_response(request, res, std::chrono::duration_cast<Millis>(clock_.steady_now() - start));
    out.attempts = attempt;
    bool last = attempt == options_.max_attempts;
    if (!res.ok()) {
      const TransportError& err = res.error();
      out.response.reset();
      out.error = err;
      bool retry = err.kind == TransportErrorKind::Connect ||
                   (request.idempotent && (err.kind == TransportErrorKind::Timeout ||
                                           err.kind == TransportErrorKind::Broken));
      if (!retry || last) return out;
      sleeper_.sleep_for(backoff(attempt));
      continue;
    }
    out.error.reset();
    out.response = std::move(res).value();
    const Response& resp = *out.response;
    std::optional<Millis> hint;
    if (auto ra = find_header(resp.headers, "retry-after"); !ra.empty())
      hint = parse_retry_after(ra, clock_.now());
    RetryAdvice advice = options_.hook ? options_.hook(resp) : RetryAdvice{};
    if (advice.delay.count() > 0) hint = std::max(hint.value_or(Millis(0)), advice.delay);
    out.retry_after = hint.value_or(Millis(0));
    if (advice.action == RetryAdvice::Action::DontRetry) return out;
    // 429 and 503 are refused before processing, so any request may retry.
    const bool refused = resp.status == 429 || resp.status == 503;
    bool retry = advice.action == RetryAdvice::Action::Retry || refused;
    if (!retry && resp.status >= 500) retry = request.idempotent;
    if (!retry || last) return out;
    if (hint && *hint > options_.max_retry_after) return out;  // too long to wait here
    sleeper_.sleep_for(std::max(backoff(attempt), hint.value_or(Millis(0))));
  }
  return out;
}

}  // namespace gpupool::net
