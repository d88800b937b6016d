#include "operator/cmd/plan_cmd.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <sstream>

namespace gpupool::cmd {
namespace {

using ::testing::HasSubstr;

const std::string kFixtures = "tests/plan/fixtures/";

struct Outcome {
  int code = -1;
  std::string out;
  std::string err;
};

Outcome run(std::vector<std::string> args) {
  const FakeClock clock(std::chrono::sys_days{std::chrono::year{2026} / 11 / 22} +
                        std::chrono::hours(15));
  std::ostringstream out;
  std::ostringstream err;
  Outcome r;
  r.code = run_plan(args, clock, out, err);
  r.out = out.str();
  r.err = err.str();
  return r;
}

TEST(PlanCmdTest, UsageErrorsExitTwo) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {},
           {"--hours", "3"},
           {"-f"},
           {"-f", "x.yaml", "--hours", "0"},
           {"-f", "x.yaml", "--hours", "abc"},
           {"-f", "x.yaml", "-o", "xml"},
           {"-f", "x.yaml", "--bogus"},
           {"-f", "x.yaml", "extra"},
           {"-f", "x.yaml", "--now", "yesterday"},
           {"-f", "x.yaml", "--replicas", "-1"},
           {"-f", "x.yaml", "--fluence-billing", "maybe"},
       }) {
    const Outcome r = run(args);
    EXPECT_EQ(r.code, kExitUsage) << ::testing::PrintToString(args);
    EXPECT_THAT(r.err, HasSubstr("error: "));
    EXPECT_THAT(r.err, HasSubstr("Usage: gpupool-operator plan"));
  }
  const Outcome help = run({"--help"});
  EXPECT_EQ(help.code, kExitOk);
  EXPECT_THAT(help.out, HasSubstr("--providers"));
}

TEST(PlanCmdTest, UnreadableAndMalformedFilesExitOne) {
  Outcome r = run({"-f", kFixtures + "does-not-exist.yaml"});
  EXPECT_EQ(r.code, kExitError);
  EXPECT_THAT(r.err, HasSubstr("cannot read tests/plan/fixtures/does-not-exist.yaml"));
  r = run({"-f", kFixtures});
  EXPECT_EQ(r.code, kExitError);
  EXPECT_THAT(r.err, HasSubstr("is a directory"));
  r = run({"-f", kFixtures + "syntax-error.yaml"});
  EXPECT_EQ(r.code, kExitError);
  EXPECT_THAT(r.err, HasSubstr("not valid YAML"));
  r = run({"-f", kFixtures + "providers.yaml"});
  EXPECT_EQ(r.code, kExitError);
  EXPECT_THAT(r.err, HasSubstr("no GpuPool document"));
  r = run({"-f", kFixtures + "pool.yaml", "-p", kFixtures + "pool.yaml"});
  EXPECT_EQ(r.code, kExitError);
  EXPECT_THAT(r.err, HasSubstr("expected GpuProvider"));
}

TEST(PlanCmdTest, InvalidPoolPrintsEveryProblemWithItsPath) {
  const Outcome r = run({"-f", kFixtures + "bad-pool.yaml"});
  EXPECT_EQ(r.code, kExitError);
  EXPECT_THAT(r.err, HasSubstr("error: tests/plan/fixtures/bad-pool.yaml: "));
  EXPECT_THAT(r.err, HasSubstr("spec.replicas.max: must be >= spec.replicas.min"));
  EXPECT_THAT(r.err, HasSubstr("spec.gpu.models[0].throughputWeight: must be > 0"));
  EXPECT_THAT(r.err, HasSubstr("spec.providers[1].name: duplicate provider"));
  EXPECT_TRUE(r.out.empty());
}

TEST(PlanCmdTest, PlansTheFixturePool) {
  const Outcome r = run({"-f", kFixtures + "pool.yaml", "-p", kFixtures + "providers.yaml"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, HasSubstr("Pool ml/llm-inference: 2 new machine(s)"));
  EXPECT_THAT(r.out, HasSubstr("2 x runpod-secure SECURE/NVIDIA L40S"));
  for (std::string_view line : {std::string_view(r.out)})
    (void)line;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    EXPECT_LE(line.size(), 100u) << line;
  }
}

TEST(PlanCmdTest, JsonOutput) {
  const Outcome r = run({"-f", kFixtures + "pool.yaml", "-p", kFixtures + "providers.yaml", "-o",
                         "json", "--hours", "0.5", "--replicas", "1"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  const auto doc = nlohmann::json::parse(r.out);
  EXPECT_EQ(doc["schemaVersion"], 1);
  EXPECT_EQ(doc["lifetimeHours"], 0.5);
  EXPECT_EQ(doc["machinesRequested"], 1);
  EXPECT_EQ(doc["now"], "2026-11-22T15:00:00Z");
  ASSERT_EQ(doc["plan"]["choices"].size(), 1u);
  // Half an hour: Fluence's 3-hour minimum loses to per-second billing.
  EXPECT_EQ(doc["plan"]["choices"][0]["provider"], "runpod-secure");
}

TEST(PlanCmdTest, CatalogProviderTypesWithoutProviderObjects) {
  const Outcome r = run({"-f", kFixtures + "catalog-only-pool.yaml", "-o", "json"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  const auto doc = nlohmann::json::parse(r.out);
  // 20 minutes: AWS per-second beats Fluence's 3-hour minimum.
  EXPECT_EQ(doc["plan"]["choices"][0]["provider"], "aws");
  bool lambda_note = false;
  for (const auto& n : doc["notes"]) {
    if (n.get<std::string>().find("lambda: no L40S offer (not offered)") != std::string::npos) {
      lambda_note = true;
    }
  }
  EXPECT_TRUE(lambda_note) << doc["notes"].dump();
}

// Issue 8, defect 4: `plan` added lifetime committed spend to month-to-date
// and refused every offer ("would project $1000.86") of a pool that had
// spent 100 this month.
TEST(PlanCmdTest, MonthlyCapUsesThisMonthsSpendNotLifetimeCommitted) {
  const Outcome r =
      run({"-f", kFixtures + "spent-pool.yaml", "-o", "json", "--now", "2026-11-30T23:00:00Z"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  const auto doc = nlohmann::json::parse(r.out);
  EXPECT_EQ(doc["plan"]["machinesPlaced"], 1) << doc["plan"].dump();
  EXPECT_EQ(doc["plan"]["projectedMonth"], "100.86");  // 100 + one hour of $0.86
  EXPECT_EQ(doc["currentSpend"]["projectedMonth"], "100");
}

// The two readings of Fluence's billing give different totals; Fluence's own
// docs are the default.
TEST(PlanCmdTest, FluenceBillingReadingIsSelectable) {
  const Outcome seed =
      run({"-f", kFixtures + "catalog-only-pool.yaml", "-o", "json", "--fluence-billing", "seed"});
  const Outcome docs = run({"-f", kFixtures + "catalog-only-pool.yaml", "-o", "json"});
  ASSERT_EQ(docs.code, kExitOk) << docs.err;
  const auto a = nlohmann::json::parse(seed.out);
  const auto b = nlohmann::json::parse(docs.out);
  const auto fluence_total = [](const nlohmann::json& d) {
    for (const auto& o : d["offers"]) {
      if (o["provider"] == "fluence") return o["totalCost"].get<std::string>();
    }
    return std::string();
  };
  EXPECT_EQ(fluence_total(a), "3.81");  // 3-hour minimum charge
  EXPECT_EQ(fluence_total(b), "1.27");  // one clock hour (15:00-15:20), deposit refunded
}

}  // namespace
}  // namespace gpupool::cmd
