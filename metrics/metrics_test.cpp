// The metrics registry against the in-memory API store and a FakeClock: the
// exported spend equals spend:: to the micro-dollar, split by provider, and
// survives instance deletion; budget series follow the caps; the exposition
// passes `promtool check metrics`.
#include "metrics/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "operator/controllers/context.h"
#include "operator/core/api_codec.h"
#include "operator/core/pool_decision.h"
#include "operator/core/spend.h"
#include "operator/kube/memory/store.h"

namespace gpupool::metrics {
namespace {

using namespace std::chrono;
using namespace std::chrono_literals;
using kube::Json;
using ::testing::HasSubstr;
using ::testing::Not;

Money usd(std::string_view s) {
  return Money::parse(s).value();
}

std::string read_file(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The value of the sample `series` ("name{labels}") in an exposition, or
// nullopt when absent.
std::optional<double> sample(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return std::nullopt;
}

std::string spend_series(const std::string& provider) {
  return R"(gpupool_pool_spend_usd_total{namespace="default",pool="web",provider=")" + provider +
         R"("})";
}

class MetricsTest : public ::testing::Test {
 protected:
  MetricsTest()
      : clock_(sys_days{year{2026} / November / 10} + 12h),
        api_(clock_),
        metrics_(Sources{clock_, pools_, instances_, providers_}) {
    // As the operator's informer has it (manager.cpp): a pool's instances
    // are read through this index at scrape time.
    instances_.add_index(controllers::kIndexPoolUid, kube::index_by_label(decision::kLabelPoolUid));
    const char* src = std::getenv("GPUPOOL_SOURCE_DIR");
    const std::string dir = std::string(src ? src : ".") + "/crds/";
    for (const char* f : {"gpupool.io_gpupools.yaml", "gpupool.io_gpuinstances.yaml",
                          "gpupool.io_gpuproviders.yaml"}) {
      auto docs = api::yaml_to_json(read_file(dir + f));
      EXPECT_TRUE(docs.ok()) << f;
      if (!docs.ok()) continue;
      for (const auto& d : *docs) {
        auto r = api_.create(kube::resources::kCustomResourceDefinitions, "", d);
        EXPECT_TRUE(r.ok()) << f << ": " << (r.ok() ? "" : r.error().message);
      }
    }
  }

  void create_pool(const spend::SpendLedger& ledger, const Json& budget = Json::object()) {
    Json spec = {{"gpu", {{"models", {{{"name", "L40S"}}}}}},
                 {"replicas", {{"count", 2}}},
                 {"providers", {{{"name", "fluence"}}, {{"name", "runpod"}}}}};
    if (!budget.empty()) spec["budget"] = budget;
    Json pool = {{"apiVersion", "gpupool.io/v1alpha1"},
                 {"kind", "GpuPool"},
                 {"metadata",
                  {{"name", "web"},
                   {"namespace", "default"},
                   {"annotations", {{spend::kLedgerAnnotation, spend::format_ledger(ledger)}}}}},
                 {"spec", spec}};
    auto r = api_.create(controllers::kGpuPools, "default", pool);
    ASSERT_TRUE(r.ok()) << r.error().message;
    Json with = *r;
    with["status"] = {{"replicas", {{"desired", 2}, {"ready", 1}, {"parked", 1}}}};
    kube::UpdateOptions uo;
    uo.subresource = "status";
    auto s = api_.update(controllers::kGpuPools, with, uo);
    ASSERT_TRUE(s.ok()) << s.error().message;
  }

  void set_ledger(const spend::SpendLedger& ledger) {
    Json patch = {{"metadata",
                   {{"annotations", {{spend::kLedgerAnnotation, spend::format_ledger(ledger)}}}}}};
    auto r = api_.patch(controllers::kGpuPools, "default", "web", kube::PatchType::Merge, patch);
    ASSERT_TRUE(r.ok()) << r.error().message;
  }

  // A launched instance of pool "web" at `provider`.
  api::GpuInstance make_instance(const std::string& name, const std::string& provider,
                                 const std::string& price, Duration increment, Time launch,
                                 api::InstancePhase phase, int gpus = 1) {
    api::GpuInstance i;
    i.metadata.name = name;
    i.metadata.namespace_ = "default";
    i.spec.pool = "web";
    i.spec.offer.provider = provider;
    i.spec.offer.provider_type = "fake";
    i.spec.offer.offer_id = "l40s-" + std::to_string(gpus);
    i.spec.offer.region = "eu-1";
    i.spec.offer.gpu_model = "L40S";
    i.spec.offer.gpu_count = gpus;
    i.spec.offer.price_per_hour = usd(price);
    i.spec.offer.billing.increment = increment;
    i.spec.offer.egress_usd_per_hour = usd("0.013");
    i.status.phase = phase;
    i.status.provider_id = "m-" + name;
    i.status.region = "eu-1";
    i.status.price_per_hour = usd(price);
    i.status.billing = i.spec.offer.billing;
    i.status.launch_time = launch;
    return i;
  }

  // Labelled with its pool's uid, as the pool reconciler creates it.
  void create_instance(const api::GpuInstance& inst) {
    Json j = api::encode(inst);
    j["apiVersion"] = "gpupool.io/v1alpha1";
    j["kind"] = "GpuInstance";
    auto pool = api_.get(controllers::kGpuPools, "default", inst.spec.pool);
    ASSERT_TRUE(pool.ok()) << pool.error().message;
    j["metadata"]["labels"][decision::kLabelPoolUid] = (*pool)["metadata"]["uid"];
    auto r = api_.create(controllers::kGpuInstances, "default", j);
    ASSERT_TRUE(r.ok()) << r.error().message;
    Json with = *r;
    with["status"] = j["status"];
    kube::UpdateOptions uo;
    uo.subresource = "status";
    auto s = api_.update(controllers::kGpuInstances, with, uo);
    ASSERT_TRUE(s.ok()) << s.error().message;
  }

  std::vector<api::GpuInstance> live_instances() {
    std::vector<api::GpuInstance> out;
    auto list = api_.list(controllers::kGpuInstances, "default");
    for (const auto& j : list->items)
      out.push_back(*controllers::to_instance(j));
    return out;
  }
  spend::SpendLedger ledger() {
    auto p = controllers::to_pool(*api_.get(controllers::kGpuPools, "default", "web"));
    return *spend::parse_ledger(p->metadata.annotations.at(spend::kLedgerAnnotation));
  }

  std::string scrape() {
    EXPECT_TRUE(controllers::refresh_store(api_, controllers::kGpuPools, pools_).ok());
    EXPECT_TRUE(controllers::refresh_store(api_, controllers::kGpuInstances, instances_).ok());
    EXPECT_TRUE(controllers::refresh_store(api_, controllers::kGpuProviders, providers_).ok());
    return metrics_.serialize();
  }

  // The world most tests start from: a ledger with spend at fluence and some
  // from before the provider split, one machine per provider running and a
  // 2-GPU machine parked at runpod.
  void seed(const Json& budget = Json::object()) {
    spend::SpendLedger l;
    l.total = usd("3.000001");
    l.months["2026-11"] = usd("3.000001");
    l.providers["fluence"] = usd("2.5");  // 0.500001 is unattributed (legacy)
    l.folded = {"web-old"};
    create_pool(l, budget);
    create_instance(make_instance("web-a", "fluence", "1.234567", 1s, clock_.now() - 2h,
                                  api::InstancePhase::Ready));
    create_instance(make_instance("web-b", "runpod", "0.8", 1h, clock_.now() - 30min,
                                  api::InstancePhase::Running));
    auto parked = make_instance("web-c", "runpod", "1.6", 1h, clock_.now() - 50min,
                                api::InstancePhase::Parked, 2);
    parked.status.parked_at = clock_.now() - 10min;
    create_instance(parked);
  }

  FakeClock clock_;
  kube::MemoryStore api_;
  kube::Store pools_, instances_, providers_;
  Metrics metrics_;
};

TEST_F(MetricsTest, SpendCounterEqualsCoreSpendPerProviderToTheMicroDollar) {
  seed();
  clock_.advance(7min + 13s);
  const std::string text = scrape();
  const auto insts = live_instances();
  const spend::SpendLedger l = ledger();
  const Time now = clock_.now();

  std::map<std::string, Money> want{{"fluence", l.providers.at("fluence")}, {"", usd("0.500001")}};
  for (const auto& i : insts)
    want[i.spec.offer.provider] += spend::instance_spend(i, now).accrued;
  double sum = 0;
  for (const auto& [p, m] : want) {
    auto got = sample(text, spend_series(p));
    ASSERT_TRUE(got) << p << "\n" << text;
    EXPECT_NEAR(*got, m.to_double(), 5e-7) << p;
    sum += *got;
  }
  EXPECT_FALSE(sample(text, spend_series("other")));
  const api::SpendStatus totals = spend::pool_spend(insts, l, now);
  EXPECT_NEAR(sum, totals.accrued.to_double(), 1e-6);
  EXPECT_GT(totals.accrued, usd("3.5"));  // the instances really count

  // Burn excludes the parked machine; month figures are core's.
  auto burn = sample(
      text,
      R"(gpupool_pool_burn_rate_usd_per_hour{namespace="default",pool="web",provider="runpod"})");
  ASSERT_TRUE(burn);
  EXPECT_NEAR(*burn, 0.813, 1e-9);
  EXPECT_NEAR(*sample(text, R"(gpupool_pool_month_to_date_usd{namespace="default",pool="web"})"),
              totals.month_to_date.to_double(), 1e-6);
  EXPECT_NEAR(
      *sample(text, R"(gpupool_pool_projected_month_end_usd{namespace="default",pool="web"})"),
      totals.projected_month.to_double(), 1e-6);
  // Parked: 2 GPUs for 10 min + 7 min 13 s.
  EXPECT_EQ(
      sample(
          text,
          R"(gpupool_pool_paid_idle_gpu_seconds_total{namespace="default",pool="web",provider="runpod"})"),
      2.0 * (600 + 433));
  EXPECT_EQ(
      sample(
          text,
          R"(gpupool_pool_instances{namespace="default",pool="web",provider="runpod",phase="Parked"})"),
      1.0);
  EXPECT_EQ(sample(text, R"(gpupool_pool_desired_replicas{namespace="default",pool="web"})"), 2.0);
  EXPECT_EQ(sample(text, R"(gpupool_pool_parked_replicas{namespace="default",pool="web"})"), 1.0);
  EXPECT_NEAR(
      *sample(
          text,
          R"(gpupool_pool_price_usd_per_gpu_hour{namespace="default",pool="web",provider="fluence",region="eu-1",gpu_model="L40S"})"),
      1.234567, 1e-9);
  // Never an instance name in a label.
  EXPECT_THAT(text, Not(HasSubstr("web-a")));
}

// A scrape reads each pool's instances through the pool-uid index (the
// informers'); a store without the index is read in one bucketed pass. Both
// export the same series.
TEST_F(MetricsTest, TheIndexedAndTheBucketedReadsExportTheSameSeries) {
  seed();
  const std::string indexed = scrape();
  ASSERT_FALSE(instances_.index_counts(controllers::kIndexPoolUid).empty());
  EXPECT_THAT(indexed, ::testing::HasSubstr("gpupool_pool_instances{"));
  kube::Store pools, instances, providers;
  ASSERT_TRUE(controllers::refresh_store(api_, controllers::kGpuPools, pools).ok());
  ASSERT_TRUE(controllers::refresh_store(api_, controllers::kGpuInstances, instances).ok());
  ASSERT_TRUE(controllers::refresh_store(api_, controllers::kGpuProviders, providers).ok());
  Metrics bucketed(Sources{clock_, pools, instances, providers});
  EXPECT_EQ(bucketed.serialize(), indexed);
}

TEST_F(MetricsTest, SpendCounterKeepsItsValueWhenAFoldedInstanceIsDeleted) {
  seed();
  clock_.advance(20min);
  const double before = *sample(scrape(), spend_series("fluence"));
  // The instance reconciler ends web-a, folds it and deletes it.
  auto a = *controllers::to_instance(*api_.get(controllers::kGpuInstances, "default", "web-a"));
  a.status.ended_at = clock_.now();
  spend::SpendLedger l = ledger();
  ASSERT_TRUE(spend::fold(l, a, clock_.now()));
  set_ledger(l);
  const double folded = *sample(scrape(), spend_series("fluence"));
  EXPECT_NEAR(folded, before, 5e-7);
  ASSERT_TRUE(api_.remove(controllers::kGpuInstances, "default", "web-a").ok());
  clock_.advance(1h);
  const std::string text = scrape();
  const double after = *sample(text, spend_series("fluence"));
  EXPECT_NEAR(after, l.providers.at("fluence").to_double(), 5e-7);
  EXPECT_GE(after, before);
  // The runpod series kept growing.
  EXPECT_TRUE(sample(text, spend_series("runpod")));
  EXPECT_FALSE(
      sample(
          text,
          R"(gpupool_pool_burn_rate_usd_per_hour{namespace="default",pool="web",provider="fluence"})")
          .value_or(1.0) > 0);
}

TEST_F(MetricsTest, SpendSurvivesARestartOfTheCollector) {
  seed();
  clock_.advance(5min);
  const double first = *sample(scrape(), spend_series("runpod"));
  Metrics fresh(Sources{clock_, pools_, instances_, providers_});
  clock_.advance(1s);
  const double again = *sample(fresh.serialize(), spend_series("runpod"));
  EXPECT_GE(again, first);
  EXPECT_GT(first, 0.0);
}

TEST_F(MetricsTest, BudgetSeriesOnlyForCaps) {
  seed();
  const std::string text = scrape();
  EXPECT_THAT(text, Not(HasSubstr("gpupool_pool_budget_usd_per_hour{")));
  EXPECT_THAT(text, Not(HasSubstr("gpupool_pool_budget_usd_per_month{")));
  EXPECT_THAT(text, Not(HasSubstr("gpupool_pool_budget_utilization_ratio{")));
  ASSERT_TRUE(api_.remove(controllers::kGpuPools, "default", "web").ok());
  const std::string gone = scrape();
  EXPECT_THAT(gone, Not(HasSubstr(R"(pool="web")")));
}

TEST_F(MetricsTest, BudgetSeriesWithCaps) {
  spend::SpendLedger l;
  create_pool(l, {{"maxUsdPerHour", "4"}, {"maxUsdPerMonth", "1000"}});
  create_instance(
      make_instance("web-a", "fluence", "1", 1h, clock_.now() - 1h, api::InstancePhase::Ready));
  const std::string text = scrape();
  EXPECT_EQ(sample(text, R"(gpupool_pool_budget_usd_per_hour{namespace="default",pool="web"})"),
            4.0);
  EXPECT_EQ(sample(text, R"(gpupool_pool_budget_usd_per_month{namespace="default",pool="web"})"),
            1000.0);
  EXPECT_NEAR(
      *sample(
          text,
          R"(gpupool_pool_budget_utilization_ratio{namespace="default",pool="web",period="hour"})"),
      1.013 / 4, 1e-9);
  EXPECT_TRUE(sample(
      text,
      R"(gpupool_pool_budget_utilization_ratio{namespace="default",pool="web",period="month"})"));
}

TEST_F(MetricsTest, EveryCatalogFamilyIsExportedAndPromtoolAcceptsTheText) {
  seed({{"maxUsdPerHour", "10"}, {"maxUsdPerMonth", "5000"}});
  Json gp = {{"apiVersion", "gpupool.io/v1alpha1"},
             {"kind", "GpuProvider"},
             {"metadata", {{"name", "fluence"}}},
             {"spec", {{"type", "fake"}}}};
  ASSERT_TRUE(api_.create(controllers::kGpuProviders, "", gp).ok());
  // A controller (not started) with one key waiting, and a leader flag.
  kube::Controller ctl("gpupool", clock_,
                       [](const kube::ReconcileRequest&) { return kube::ReconcileResult{}; }, {});
  ctl.enqueue("default/web");
  Sources sources{clock_, pools_, instances_, providers_};
  sources.controllers = [&ctl] { return std::vector<kube::Controller*>{&ctl}; };
  sources.leading = [] { return false; };
  sources.version = "1.2.3";
  controllers::ProviderSlots slots(1);
  const controllers::ProviderSlots::Slot held = slots.try_acquire("fluence");
  EXPECT_FALSE(slots.try_acquire("fluence"));  // refused once
  sources.provider_slots = &slots;
  Metrics m(sources);
  m.provider_observer().observe("fluence", "offers", nullptr, 12ms);
  ProviderError err;
  err.kind = ProviderErrorKind::NoCapacity;
  m.provider_observer().observe("fluence", "create", &err, 30ms);
  m.controllers().observe_reconcile("gpupool", 3ms);
  m.instances().failed("default", "web", "fluence", "RegistrationTimeout");
  m.instances().failed("default", "web", "fluence", "RegistrationTimeout");
  (void)scrape();
  const std::string text = m.serialize();
  EXPECT_EQ(sample(text, R"(gpupool_workqueue_depth{controller="gpupool"})"), 1.0);
  EXPECT_EQ(sample(text, R"(gpupool_workqueue_adds_total{controller="gpupool"})"), 1.0);
  EXPECT_EQ(sample(text, "gpupool_leader"), 0.0);
  EXPECT_EQ(sample(text, R"(gpupool_provider_calls_refused_total{provider="fluence"})"), 1.0);
  EXPECT_EQ(sample(text, R"(gpupool_build_info{revision="unknown",version="1.2.3"})"), 1.0);
  EXPECT_EQ(
      sample(
          text,
          R"(gpupool_provider_api_errors_total{kind="NoCapacity",method="create",provider="fluence"})"),
      1.0);
  EXPECT_EQ(
      sample(
          text,
          R"(gpupool_instance_failures_total{namespace="default",pool="web",provider="fluence",reason="RegistrationTimeout"})"),
      2.0);

  // Every family of the catalog (metrics/README.md) is there.
  const char* src = std::getenv("GPUPOOL_SOURCE_DIR");
  const std::string catalog = read_file(std::string(src ? src : ".") + "/metrics/README.md");
  size_t families = 0;
  for (size_t at = catalog.find("| `gpupool_"); at != std::string::npos;
       at = catalog.find("| `gpupool_", at + 1)) {
    const size_t start = at + 3;
    const std::string name = catalog.substr(start, catalog.find('`', start) - start);
    EXPECT_NE(text.find("# TYPE " + name + " "), std::string::npos) << name;
    ++families;
  }
  EXPECT_EQ(families, 33u);

  // promtool must be there (scripts/setup.sh installs it) and say nothing.
  ASSERT_EQ(access("/usr/bin/promtool", X_OK), 0) << "promtool missing: run scripts/setup.sh";
  char path[] = "/tmp/gpupool-metrics-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  close(fd);
  const std::string cmd = std::string("/usr/bin/promtool check metrics < ") + path + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  std::array<char, 512> buf{};
  while (fgets(buf.data(), static_cast<int>(buf.size()), p))
    out += buf.data();
  const int rc = pclose(p);
  unlink(path);
  EXPECT_EQ(WEXITSTATUS(rc), 0) << out;
  EXPECT_EQ(out, "") << text;
}

}  // namespace
}  // namespace gpupool::metrics
