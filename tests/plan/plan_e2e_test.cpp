// Runs the built gpupool-operator binary, as a user would, and checks exit
// codes, stderr and the table / JSON output.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace {

using nlohmann::json;
using ::testing::HasSubstr;

struct Outcome {
  int code = -1;
  std::string out;
  std::string err;
};

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s)
    out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Runs the binary with `args` from the repository root.
Outcome run(const std::string& args) {
  const char* bin_dir = std::getenv("GPUPOOL_BINARY_DIR");
  const char* src_dir = std::getenv("GPUPOOL_SOURCE_DIR");
  if (bin_dir == nullptr) bin_dir = GPUPOOL_E2E_BINARY_DIR;
  if (src_dir == nullptr) src_dir = GPUPOOL_E2E_SOURCE_DIR;
  // ctest runs test cases as parallel processes that share TempDir(): names
  // carry the pid and a per-process counter so outputs never mix.
  static int calls = 0;
  const std::string tmp = ::testing::TempDir() + "/plan_e2e_" + std::to_string(::getpid()) + "_" +
                          std::to_string(++calls);
  const std::string out_path = tmp + ".out";
  const std::string err_path = tmp + ".err";
  const std::string cmd = "cd " + quote(src_dir) + " && " +
                          quote(std::string(bin_dir) + "/bin/gpupool-operator") + " " + args +
                          " >" + quote(out_path) + " 2>" + quote(err_path);
  const int status = std::system(cmd.c_str());
  Outcome r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = slurp(out_path);
  r.err = slurp(err_path);
  std::remove(out_path.c_str());
  std::remove(err_path.c_str());
  return r;
}

constexpr const char* kNow = " --now 2026-11-22T15:40:00Z";

TEST(PlanE2eTest, HelpAndVersion) {
  Outcome r = run("--help");
  EXPECT_EQ(r.code, 0);
  EXPECT_THAT(r.out, HasSubstr("plan"));
  r = run("--version");
  EXPECT_EQ(r.code, 0);
  EXPECT_THAT(r.out, ::testing::MatchesRegex("gpupool-operator [0-9]+\\.[0-9]+\\.[0-9]+.*\n"));
  r = run("plan --help");
  EXPECT_EQ(r.code, 0);
  EXPECT_THAT(r.out, HasSubstr("-p, --providers"));
}

TEST(PlanE2eTest, UsageErrorsExitTwo) {
  EXPECT_EQ(run("").code, 2);
  EXPECT_EQ(run("frobnicate").code, 2);
  Outcome r = run("plan");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("-f POOL.yaml is required"));
  EXPECT_EQ(run("plan -f examples/l40s-inference-pool.yaml -o yaml").code, 2);
}

TEST(PlanE2eTest, UnreadableOrMalformedFilesExitOne) {
  Outcome r = run("plan -f no/such/pool.yaml");
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("cannot read no/such/pool.yaml"));
  r = run("plan -f tests/plan/fixtures/syntax-error.yaml");
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("not valid YAML"));
  EXPECT_TRUE(r.out.empty());
}

TEST(PlanE2eTest, InvalidPoolPrintsEveryErrorWithItsPath) {
  const Outcome r = run("plan -f tests/plan/fixtures/bad-pool.yaml");
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("spec.replicas.max: must be >= spec.replicas.min"));
  EXPECT_THAT(r.err, HasSubstr("spec.gpu.models[0].throughputWeight: must be > 0"));
  EXPECT_THAT(r.err, HasSubstr("spec.providers[1].name: duplicate provider"));
  EXPECT_TRUE(r.out.empty());
}

TEST(PlanE2eTest, FixturePoolTableChoosesRunpodAndFitsOneHundredColumns) {
  const Outcome r = run(
      std::string("plan -f tests/plan/fixtures/pool.yaml -p tests/plan/fixtures/providers.yaml") +
      kNow);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("RANKED OFFERS"));
  EXPECT_THAT(r.out, HasSubstr("2 x runpod-secure SECURE/NVIDIA L40S"));
  EXPECT_THAT(r.out, HasSubstr("Projected hourly burn: $1.72/h"));
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);)
    EXPECT_LE(line.size(), 100u) << line;
}

TEST(PlanE2eTest, FixturePoolJsonHasTheDocumentedFields) {
  const Outcome r = run(std::string("plan -f tests/plan/fixtures/pool.yaml -p "
                                    "tests/plan/fixtures/providers.yaml -o json") +
                        kNow);
  ASSERT_EQ(r.code, 0) << r.err;
  const json doc = json::parse(r.out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << r.out;
  EXPECT_EQ(doc["schemaVersion"], 1);
  for (const char* field :
       {"pool", "now", "catalogDate", "lifetimeHours", "lifetimeDefaulted", "machinesRequested",
        "gpusPerMachine", "referenceModel", "egressGbPerGpuHour", "budget", "currentSpend",
        "offers", "plan", "notes"}) {
    EXPECT_TRUE(doc.contains(field)) << field;
  }
  ASSERT_FALSE(doc["offers"].empty());
  for (const json& o : doc["offers"]) {
    for (const char* field : {"position",
                              "rank",
                              "key",
                              "provider",
                              "providerType",
                              "offerId",
                              "region",
                              "gpuModel",
                              "gpuCount",
                              "tier",
                              "spot",
                              "capacityHint",
                              "source",
                              "listPricePerHour",
                              "pricePerGpuHour",
                              "billing",
                              "billingSummary",
                              "computeCost",
                              "egressGb",
                              "egressCost",
                              "totalCost",
                              "hourlyBurn",
                              "throughputWeight",
                              "costPerEquivalentGpuHour",
                              "eligible",
                              "reasons",
                              "bridge"}) {
      EXPECT_TRUE(o.contains(field)) << field;
    }
    EXPECT_EQ(o["eligible"].get<bool>(), o["reasons"].empty());
  }
  for (const char* field : {"choices", "machinesPlaced", "shortfall", "expectedTotal",
                            "addedHourly", "projectedHourly", "monthEnd", "projectedMonth"}) {
    EXPECT_TRUE(doc["plan"].contains(field)) << field;
  }
  EXPECT_EQ(doc["lifetimeHours"], 24);
  EXPECT_EQ(doc["machinesRequested"], 2);
  ASSERT_EQ(doc["plan"]["choices"].size(), 1u);
  EXPECT_EQ(doc["plan"]["choices"][0]["provider"], "runpod-secure");
  EXPECT_EQ(doc["plan"]["choices"][0]["machines"], 2);
  EXPECT_EQ(doc["plan"]["expectedTotal"], "41.28");
  EXPECT_EQ(doc["plan"]["monthEnd"], "2026-12-01T00:00:00Z");
  EXPECT_TRUE(doc["plan"]["shortfall"].is_null());
  // At 15:40 AWS is priced as a bridge to Fluence's 16:00 clock hour: AWS
  // to 16:10 ($0.93, and $0.09/GB on its 1 GB), then 24 Fluence hours
  // ($30.48; Fluence's egress is free). Of the 48 GB, AWS carries one.
  for (const json& o : doc["offers"]) {
    if (o["offerId"] == "g6e.xlarge" && o["region"] == "us-east-1") {
      EXPECT_EQ(o["egressGb"], 48);
      EXPECT_EQ(o["egressCost"], "0.09");
      EXPECT_EQ(o["totalCost"], "31.5");
      ASSERT_TRUE(o["bridge"].is_object());
      EXPECT_EQ(o["bridge"]["from"], "2026-11-22T16:00:00Z");
      EXPECT_THAT(o["bridge"]["to"].get<std::string>(), HasSubstr("fluence"));
    }
    if (o["providerType"] == "fluence") EXPECT_TRUE(o["bridge"].is_null());
    if (o["region"] == "us-west-2") {
      EXPECT_FALSE(o["eligible"].get<bool>());  // the pool allows only us-east-1
    }
  }
}

TEST(PlanE2eTest, ShortNeedPrefersPerSecondBilling) {
  const Outcome r = run(std::string("plan -f tests/plan/fixtures/pool.yaml -p "
                                    "tests/plan/fixtures/providers.yaml -o json --hours 0.25 "
                                    "--replicas 1 --fluence-billing seed") +
                        kNow);
  ASSERT_EQ(r.code, 0) << r.err;
  const json doc = json::parse(r.out);
  EXPECT_EQ(doc["plan"]["choices"][0]["provider"], "runpod-secure");
  for (const json& o : doc["offers"]) {
    if (o["providerType"] == "fluence" && o["gpuModel"] == "L40S" && o["gpuCount"] == 1) {
      EXPECT_EQ(o["totalCost"], "3.81");  // the 3-hour minimum
    }
  }
}

// The bundled examples (examples/), as the README's main command runs them.
TEST(PlanE2eTest, ReadmeMainCommandWorks) {
  const Outcome r = run("plan -f examples/l40s-inference-pool.yaml -p examples/providers.yaml");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("PLAN: 3 new machine(s)"));
  EXPECT_TRUE(r.err.empty()) << r.err;
}

TEST(PlanE2eTest, TablesFitOneHundredColumns) {
  for (const char* args :
       {"plan -f examples/l40s-inference-pool.yaml -p examples/providers.yaml --all",
        "plan -f examples/l40-or-l40s-pool.yaml -p examples/providers.yaml --all",
        "plan -f tests/plan/fixtures/catalog-only-pool.yaml --all"}) {
    const Outcome r = run(args);
    ASSERT_EQ(r.code, 0) << args << "\n" << r.err;
    std::istringstream lines(r.out);
    for (std::string line; std::getline(lines, line);) {
      EXPECT_LE(line.size(), 100u) << args << "\n" << line;
    }
  }
}

// Runpod's offers carry no region and its adapter cannot choose one, so a
// provider entry that lists regions refuses them, in `plan` as in the
// operator (issue 8, defect 6): Fluence is what can really be bought, after
// an AWS bridge to its next clock hour (docs/billing.md).
TEST(PlanE2eTest, InferenceExampleBridgesToFluenceWhereRunpodCannotPromiseARegion) {
  const Outcome r = run(std::string("plan -f examples/l40s-inference-pool.yaml -p "
                                    "examples/providers.yaml -o json") +
                        kNow);
  ASSERT_EQ(r.code, 0) << r.err;
  const json doc = json::parse(r.out);
  EXPECT_EQ(doc["lifetimeHours"], 72);  // spec.planning.expectedLifetimeHours
  EXPECT_EQ(doc["machinesRequested"], 3);
  ASSERT_EQ(doc["plan"]["choices"].size(), 1u);
  const json& c = doc["plan"]["choices"][0];
  EXPECT_EQ(c["provider"], "aws");
  EXPECT_EQ(c["offerId"], "g6e.xlarge");
  EXPECT_EQ(c["machines"], 3);
  EXPECT_THAT(c["reason"].get<std::string>(), HasSubstr("takes over at 2026-11-22T16:00:00Z"));
  // Fluence alone: 73 UTC clock hours from 15:40 (Fluence's own billing
  // docs, deposit refunded), 3 x 1.27 x 73 = $278.13. The bridge: AWS to
  // 16:10 ($0.93 + $0.09 egress), then 72 Fluence hours ($91.44), x 3.
  EXPECT_EQ(doc["plan"]["expectedTotal"], "277.38");
  EXPECT_EQ(doc["plan"]["projectedHourly"], "6.12");  // 3 x ($1.86 + $0.18 egress) while AWS runs
  bool runpod_seen = false;
  for (const json& o : doc["offers"]) {
    if (o["offerId"] == "l40s") EXPECT_EQ(o["totalCost"], "92.71");  // 1.27 x 73
    if (o["offerId"] == "g6e.xlarge" && o["region"] == "us-east-1") {
      EXPECT_EQ(o["egressCost"], "0.09");  // 2 GB/GPU-h x 0.5 h x $0.09
    }
    if (o["offerId"] == "SECURE/NVIDIA L40S") {
      runpod_seen = true;
      EXPECT_FALSE(o["eligible"].get<bool>());
      EXPECT_EQ(o["reasons"][0], "region unknown; pool allows only EU-RO-1, US-KS-2");
    }
    EXPECT_NE(o["offerId"], "COMMUNITY/NVIDIA L40S");
  }
  EXPECT_TRUE(runpod_seen);
}

TEST(PlanE2eTest, L40OrL40sExampleWeighsThroughput) {
  const Outcome r = run(std::string("plan -f examples/l40-or-l40s-pool.yaml -p "
                                    "examples/providers.yaml -o json") +
                        kNow);
  ASSERT_EQ(r.code, 0) << r.err;
  const json doc = json::parse(r.out);
  ASSERT_FALSE(doc["plan"]["choices"].empty());
  EXPECT_EQ(doc["plan"]["choices"][0]["provider"], "vastai");
  EXPECT_EQ(doc["plan"]["machinesPlaced"], 2);
  for (const json& o : doc["offers"]) {
    if (o["eligible"].get<bool>()) {
      EXPECT_EQ(o["gpuCount"], 2);
    }
    // The pool bootstraps Nodes: providers whose machines cannot run its
    // template are not offered, as in the operator (issue 13).
    EXPECT_NE(o["providerType"], "runpod");
    EXPECT_NE(o["providerType"], "fluence");
  }
  EXPECT_THAT(doc["notes"].dump(),
              HasSubstr("provider runpod (type runpod) cannot run the bootstrap template"));
  EXPECT_THAT(doc["notes"].dump(),
              HasSubstr("provider fluence (type fluence) cannot run the bootstrap template"));
}

TEST(PlanE2eTest, InvalidExamplePrintsEveryErrorWithItsPath) {
  const Outcome r = run("plan -f examples/invalid/bad-pool.yaml -p examples/providers.yaml");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(r.out.empty()) << r.out;
  for (const char* line : {
           "spec.reliability: Unsupported value: \"Gold\"",
           "spec.gpu.models[1].throughputWeight: must be > 0",
           "spec.replicas.max: must be >= spec.replicas.min (4)",
           "spec.providers[1].name: must not be empty",
           "spec.providers[2].name: duplicate provider \"fluence\"",
           "spec.budget.maxUsdPerHour: must not be negative",
           "spec.autoscaling.metrics: must list at least one metric",
           "spec.usage.endpoint.image: must not be empty",
       }) {
    EXPECT_THAT(r.err, HasSubstr(std::string("  ") + line));
  }
}

}  // namespace
