// The `simulate` command front: exit codes and messages for bad input, and a
// short run end to end.
#include "operator/cmd/simulate_cmd.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "operator/cmd/plan_cmd.h"

namespace gpupool::cmd {
namespace {

using ::testing::HasSubstr;

std::string src(const std::string& rel) {
  const char* dir = std::getenv("GPUPOOL_SOURCE_DIR");
  return std::string(dir ? dir : ".") + "/" + rel;
}

struct Outcome {
  int code = 0;
  std::string out, err;
};

class SimulateCmdTest : public ::testing::Test {
 protected:
  std::string write(const std::string& name, const std::string& text) {
    const auto path = dir_ / name;
    std::ofstream(path) << text;
    return path.string();
  }
  Outcome run(std::vector<std::string> args) {
    std::ostringstream out, err;
    FakeClock clock(Time{});
    Outcome r;
    r.code = run_simulate(args, clock, out, err);
    r.out = out.str();
    r.err = err.str();
    return r;
  }
  std::filesystem::path dir_ = [] {
    auto d = std::filesystem::temp_directory_path() /
             ("simulate-cmd-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
              "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(d);
    return d;
  }();
  const std::string pool_ = src("examples/sim/l40s-inference-pool.yaml");
};

TEST_F(SimulateCmdTest, BadTraceIsExitTwoNamingTheLine) {
  const auto trace = write("t.csv", "time_s,gpus\n0,1\n60,2\n30,1\n");
  Outcome r = run({"--pool", pool_, "--trace", trace});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("t.csv:4: time 30 is not after"));
  r = run({"--pool", pool_, "--trace", write("n.csv", "time_s,gpus\n0,1\n60,-1\n90,0\n")});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("n.csv:3: demand -1 is negative"));
}

TEST_F(SimulateCmdTest, UnknownProviderInAFlagOrMarketFileIsExitTwo) {
  const auto trace = write("t.csv", "time_s,gpus\n0,1\n60,0\n");
  Outcome r = run({"--pool", pool_, "--trace", trace, "--capacity", "nosuch=2"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("unknown provider 'nosuch'"));
  r = run({"--pool", pool_, "--trace", trace, "--market",
           write("m.yaml", "providers:\n  runpod: {capasity: 3}\n")});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("providers.runpod.capasity"));
  r = run({"--pool", pool_, "--trace", trace, "--policy", "single-provider:nosuch"});
  EXPECT_EQ(r.code, kExitUsage);
}

TEST_F(SimulateCmdTest, InvalidPoolIsExitTwoAndAMissingFileExitOne) {
  const auto trace = write("t.csv", "time_s,gpus\n0,1\n60,0\n");
  Outcome r = run({"--pool", src("examples/invalid/bad-pool.yaml"), "--trace", trace});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("spec.reliability"));
  r = run({"--pool", pool_, "--trace", (dir_ / "missing.csv").string()});
  EXPECT_EQ(r.code, kExitError);
  EXPECT_EQ(run({"--pool", pool_}).code, kExitUsage);
}

TEST_F(SimulateCmdTest, ShortRunPrintsJsonAndAPlot) {
  const auto trace = write("t.csv", "time_s,gpus\n0,2\n900,1\n1800,0\n");
  const auto svg = (dir_ / "run.svg").string();
  Outcome r = run({"--pool", pool_, "--trace", trace, "-o", "json", "--plot", svg, "--capacity",
                   "runpod=1", "--boot-seconds", "runpod=30"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["demanded_gpu_hours"], 0.75);
  EXPECT_EQ(j["instances_by_provider"]["runpod"], 1);
  EXPECT_GT(j["spend_usd"].get<double>(), 0);
  EXPECT_EQ(j["spend_usd"], j["recorded_spend_usd"]);
  std::ifstream f(svg);
  std::stringstream s;
  s << f.rdbuf();
  EXPECT_THAT(s.str(), HasSubstr("</svg>"));
}

}  // namespace
}  // namespace gpupool::cmd
