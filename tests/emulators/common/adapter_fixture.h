#pragma once
// The fixture every adapter test shares: a fake clock and a sleeper that
// moves it (nothing sleeps), the emulator under test built from options the
// test fills in, a loopback curl transport (and a short-timeout one for
// tests whose point is a lost answer), a thread-safe capture of the
// adapter's log lines (AdapterLogCapture, which the conformance suite shares), and the adapter
// config and intent every test starts from (adapter_config(), intent_of()), so a test names only
// its adapter's own fields.

#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "operator/clock/clock.h"
#include "providers/http/client.h"
#include "providers/http/curl_transport.h"
#include "providers/provider.h"

namespace gpupool::emulators {

inline net::CurlOptions curl_options(std::chrono::milliseconds total_timeout) {
  net::CurlOptions o;
  o.total_timeout = total_timeout;
  return o;
}

// The intent adapter tests start from: one L40S machine `name` of pool
// `pool_uid`, bought from `offer_id` in `region` at `price`, carrying
// `user_data` (a bootstrap whose token no log may show).
inline InstanceIntent l40s_intent(std::string name, std::string pool_uid, std::string offer_id,
                                  std::string region, Money price, std::string user_data) {
  InstanceIntent i;
  i.name = std::move(name);
  i.pool_uid = std::move(pool_uid);
  i.offer.id = std::move(offer_id);
  i.offer.region = std::move(region);
  i.offer.gpu_model = "L40S";
  i.offer.gpu_count = 1;
  i.offer.price_per_hour = price;
  i.user_data = std::move(user_data);
  return i;
}

// What a test keeps of the adapters' log lines (an adapter may log from
// several threads), and the check that none of them shows a secret. Shared
// by the per-adapter fixture and the conformance suite.
class AdapterLogCapture {
 protected:
  // A log sink for the adapter's ClientOptions::log that keeps every line.
  net::LogSink log_sink() {
    return [this](std::string_view line) {
      std::lock_guard lock(log_mu_);
      log_.emplace_back(line);
    };
  }

  // Fails for every kept log line that contains `secret`.
  void expect_not_logged(std::string_view secret) {
    std::lock_guard lock(log_mu_);
    for (const auto& l : log_)
      EXPECT_EQ(l.find(secret), std::string::npos) << l;
  }

  std::mutex log_mu_;
  std::vector<std::string> log_;
};

template <typename Emulator, typename Options>
class AdapterTest : public ::testing::Test, protected AdapterLogCapture {
 protected:
  // `setup` fills the emulator's options; the clock is set here.
  AdapterTest(Time start, const std::function<void(Options&)>& setup)
      : clock_(start), sleeper_(&clock_), emulator_([&] {
          Options o;
          o.clock = &clock_;
          setup(o);
          return o;
        }()) {}

  void SetUp() override { ASSERT_TRUE(emulator_.start()); }

  // The config of an adapter of type Config as every test starts it: named
  // `provider_name`, pointed at the emulator, 3 attempts, a fixed jitter
  // seed, its log lines kept (the adapter may log from several threads).
  template <typename Config>
  Config adapter_config(std::string provider_name, uint32_t jitter_seed) {
    Config c;
    c.provider_name = std::move(provider_name);
    c.endpoint = emulator_.base_url();
    c.http.max_attempts = 3;
    c.http.jitter_seed = jitter_seed;
    c.http.log = log_sink();
    return c;
  }

  FakeClock clock_;
  net::FakeSleeper sleeper_;
  Emulator emulator_;
  // Generous: the machines running the tests are busy.
  net::CurlTransport transport_{curl_options(std::chrono::milliseconds(15000))};
  // For lost or slow answers: the client gives up soon.
  net::CurlTransport short_transport_{curl_options(std::chrono::milliseconds(1500))};
};

}  // namespace gpupool::emulators
