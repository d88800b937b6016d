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

TEST(RunCmd, HelpListsTheKubeApiRateFlags) {
  std::ostringstream out, err;
  ASSERT_EQ(run_operator({"--help"}, factory::AdapterTable(), out, err), 0);
  EXPECT_NE(out.str().find("--kube-api-qps N"), std::string::npos);
  EXPECT_NE(out.str().find("--kube-api-burst N"), std::string::npos);
}

}  // namespace
}  // namespace gpupool::cmd
