#include "operator/cmd/run_cmd.h"

#include <gtest/gtest.h>

#include <sstream>

namespace gpupool::cmd {
namespace {

int run(const std::vector<std::string>& args, std::string& err_text) {
  std::ostringstream out, err;
  const int code = run_operator(args, factory::AdapterTable(), out, err);
  err_text = err.str();
  return code;
}

TEST(RunCmd, RefusesBadKubeApiRateFlagsBeforeStarting) {
  std::string err;
  for (const std::vector<std::string>& args : {std::vector<std::string>{"--kube-api-qps", "fast"},
                                               {"--kube-api-qps", "-1"},
                                               {"--kube-api-qps", "20x"},
                                               {"--kube-api-burst", "0"},
                                               {"--kube-api-burst", "many"}}) {
    EXPECT_EQ(run(args, err), 2) << args[0] << " " << args[1];
    EXPECT_NE(err.find("--kube-api-qps must be a number >= 0"), std::string::npos) << err;
  }
}

TEST(RunCmd, RefusesMalformedLeaderElectionDurations) {
  std::string err;
  for (const char* flag : {"--leader-elect-lease-duration", "--leader-elect-renew-deadline",
                           "--leader-elect-retry-period"}) {
    for (const char* value : {"0", "-3", "2m", "1.5s", "", "s", "fast"}) {
      EXPECT_EQ(run({flag, value}, err), 2) << flag << " " << value;
      EXPECT_NE(err.find(std::string("error: ") + flag + " must be whole seconds >= 1"),
                std::string::npos)
          << flag << " " << value << ": " << err;
    }
  }
}

TEST(RunCmd, RefusesLeaderElectionDurationsOutOfOrderOnlyWhenElecting) {
  std::string err;
  // Renew deadline not below the lease duration.
  EXPECT_EQ(run({"--leader-elect", "--leader-elect-lease-duration", "4s",
                 "--leader-elect-renew-deadline", "4s"},
                err),
            2);
  EXPECT_NE(err.find("leaseDuration must be greater than renewDeadline"), std::string::npos) << err;
  // Renew deadline not above 1.2 * retry period (3 <= 1.2 * 3).
  EXPECT_EQ(run({"--leader-elect=true", "--leader-elect-lease-duration=6s",
                 "--leader-elect-renew-deadline=3", "--leader-elect-retry-period=3s"},
                err),
            2);
  EXPECT_NE(err.find("renewDeadline must be greater than retryPeriod*1.2"), std::string::npos)
      << err;
  // Without --leader-elect the order does not matter; the run goes on to
  // load the configuration (which fails here: no such kubeconfig).
  EXPECT_EQ(run({"--leader-elect-lease-duration", "4s", "--leader-elect-renew-deadline", "4s",
                 "--kubeconfig", "/nonexistent/kubeconfig", "--health-addr", ""},
                err),
            1)
      << err;
}

TEST(RunCmd, HelpListsTheKubeApiRateFlags) {
  std::ostringstream out, err;
  ASSERT_EQ(run_operator({"--help"}, factory::AdapterTable(), out, err), 0);
  EXPECT_NE(out.str().find("--kube-api-qps N"), std::string::npos);
  EXPECT_NE(out.str().find("--kube-api-burst N"), std::string::npos);
  EXPECT_NE(out.str().find("--leader-elect-lease-duration DURATION"), std::string::npos);
  EXPECT_NE(out.str().find("--leader-elect-renew-deadline DURATION"), std::string::npos);
  EXPECT_NE(out.str().find("--leader-elect-retry-period DURATION"), std::string::npos);
  EXPECT_NE(out.str().find("--health-check-workers N"), std::string::npos);
  EXPECT_NE(out.str().find("--provider-concurrency N"), std::string::npos);
}

TEST(RunCmd, RefusesHealthCheckWorkersOutsideOneToSixtyFour) {
  std::string err;
  for (const char* value : {"0", "65", "-1", "4x", "", "four", "1.5", "9999"}) {
    EXPECT_EQ(run({"--health-check-workers", value}, err), 2) << value;
    EXPECT_NE(err.find("error: --health-check-workers must be a whole number from 1 to 64, not"),
              std::string::npos)
        << value << ": " << err;
  }
  // In range: the run goes on to load the configuration (which fails here).
  for (const char* value : {"1", "64"}) {
    EXPECT_EQ(run({"--health-check-workers", value, "--kubeconfig", "/nonexistent/kubeconfig",
                   "--health-addr", ""},
                  err),
              1)
        << value << ": " << err;
  }
}

TEST(RunCmd, RefusesAProviderConcurrencyThatIsNotAWholeNumber) {
  std::string err;
  for (const char* value : {"-1", "2x", "", "two", "1.5", "1000001"}) {
    EXPECT_EQ(run({"--provider-concurrency", value}, err), 2) << value;
    EXPECT_NE(err.find("error: --provider-concurrency must be a whole number >= 0"),
              std::string::npos)
        << value << ": " << err;
  }
  // 0 (the default for --workers) and a number: the run goes on to load the
  // configuration (which fails here).
  for (const char* value : {"0", "1", "16"}) {
    EXPECT_EQ(run({"--provider-concurrency", value, "--kubeconfig", "/nonexistent/kubeconfig",
                   "--health-addr", ""},
                  err),
              1)
        << value << ": " << err;
  }
}

}  // namespace
}  // namespace gpupool::cmd
