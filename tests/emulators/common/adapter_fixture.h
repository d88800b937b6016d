#pragma once
// The fixture every adapter test shares: a fake clock and a sleeper that
// moves it (nothing sleeps), the emulator under test built from options the
// test fills in, a loopback curl transport (and a short-timeout one for
// tests whose point is a lost answer), and a thread-safe capture of the
// adapter's log lines.

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

namespace gpupool::emulators {

inline net::CurlOptions curl_options(std::chrono::milliseconds total_timeout) {
  net::CurlOptions o;
  o.total_timeout = total_timeout;
  return o;
}

template <typename Emulator, typename Options>
class AdapterTest : public ::testing::Test {
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

  FakeClock clock_;
  net::FakeSleeper sleeper_;
  Emulator emulator_;
  // Generous: the machines running the tests are busy.
  net::CurlTransport transport_{curl_options(std::chrono::milliseconds(15000))};
  // For lost or slow answers: the client gives up soon.
  net::CurlTransport short_transport_{curl_options(std::chrono::milliseconds(1500))};
  std::mutex log_mu_;
  std::vector<std::string> log_;
};

}  // namespace gpupool::emulators
