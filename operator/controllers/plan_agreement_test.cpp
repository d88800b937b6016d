// `plan` predicts what the operator buys (issue 8, defect 6). For every
// example pool, with the example GpuProviders, the `plan` command and the
// real reconcilers (provider registry, price refreshers, pool reconciler) are
// run on the same inputs at the same instant, and the machines the operator
// creates must be exactly the ones `plan` lists. The providers' APIs are
// unreachable (a closed loopback port), so both plan on the catalog: the
// operator through its refreshers' catalog fallback, `plan` directly.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

#include "operator/cmd/plan_cmd.h"
#include "operator/controllers/pool_reconciler.h"
#include "operator/controllers/provider_reconciler.h"
#include "operator/core/api_codec.h"
#include "operator/core/pool_decision.h"
#include "operator/kube/memory/store.h"
#include "providers/aws/ec2_provider.h"
#include "providers/digitalocean/digitalocean_provider.h"
#include "providers/factory/adapter_table.h"
#include "providers/fluence/fluence_provider.h"
#include "providers/http/url.h"
#include "providers/lambda/lambda_provider.h"
#include "providers/runpod/runpod_provider.h"
#include "providers/scaleway/scaleway_provider.h"
#include "providers/vastai/vastai_provider.h"
#include "providers/verda/verda_provider.h"
#include "providers/vultr/vultr_provider.h"

namespace gpupool::controllers {
namespace {

using namespace std::chrono;
using namespace std::chrono_literals;
using kube::Json;

std::string source_dir() {
  const char* src = std::getenv("GPUPOOL_SOURCE_DIR");
  return std::string(src ? src : ".");
}

std::string read_file(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::vector<Json> yaml_docs(const std::string& path) {
  auto docs = api::yaml_to_json(read_file(path));
  EXPECT_TRUE(docs.ok()) << path;
  return docs.ok() ? *docs : std::vector<Json>{};
}

// "provider/offerId/region" -> machines.
using Purchases = std::map<std::string, int>;

Purchases planned(const std::string& pool_file, Time now) {
  FakeClock clock(now);
  std::ostringstream out, err;
  const int code = cmd::run_plan({"-f", pool_file, "-p", source_dir() + "/examples/providers.yaml",
                                  "--now", format_rfc3339(now), "-o", "json"},
                                 clock, out, err);
  EXPECT_EQ(code, cmd::kExitOk) << err.str();
  Purchases p;
  const Json doc = Json::parse(out.str(), nullptr, false);
  if (doc.is_discarded()) return p;
  for (const auto& c : doc["plan"]["choices"]) {
    p[c["provider"].get<std::string>() + "/" + c["offerId"].get<std::string>() + "/" +
      c["region"].get<std::string>()] += c["machines"].get<int>();
  }
  return p;
}

Purchases bought(const std::string& pool_file, Time now) {
  FakeClock clock(now);
  kube::MemoryStore api(clock);
  ProviderCallStats stats;
  // Every adapter type the examples use, as main's table has them.
  ProviderRegistry registry(
      clock, stats,
      factory::AdapterTable({aws::adapter_type(), fluence::adapter_type(), runpod::adapter_type(),
                             vastai::adapter_type(), lambda::adapter_type(), verda::adapter_type(),
                             digitalocean::adapter_type(), scaleway::adapter_type(),
                             vultr::adapter_type()}));
  UnavailableOffers unavailable;
  kube::EventRecorder events(api, clock, kComponent);
  kube::Store pools, instances, providers;
  instances.add_index(kIndexPoolUid, kube::index_by_label(decision::kLabelPoolUid));
  Context ctx{api, clock, registry, unavailable, events, pools, instances, providers, {}};
  for (const char* f : {"gpupool.io_gpupools.yaml", "gpupool.io_gpuinstances.yaml",
                        "gpupool.io_gpuproviders.yaml"}) {
    for (const auto& d : yaml_docs(source_dir() + "/crds/" + f)) {
      EXPECT_TRUE(api.create(kube::resources::kCustomResourceDefinitions, "", d).ok()) << f;
    }
  }
  // Every GpuProvider of the example, its API on a closed loopback port and
  // a Secret with every credential key an adapter reads.
  Json data = Json::object();
  for (const char* k : {"accessKeyId", "apiKey", "apiToken", "clientId", "clientSecret",
                        "secretAccessKey", "secretKey", "sessionToken"}) {
    data[k] = net::base64_encode("not-a-real-credential");
  }
  for (Json gp : yaml_docs(source_dir() + "/examples/providers.yaml")) {
    if (gp.value("kind", "") != "GpuProvider") continue;
    gp["spec"]["endpoint"] = "http://127.0.0.1:9";
    const Json& ref = gp["spec"]["credentialsSecret"];
    const std::string ns = ref.value("namespace", "default");
    (void)api.create(kube::resources::kNamespaces, "",
                     {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}});
    Json secret_data = data;
    const Json keys = ref.value("keys", Json::object());
    for (const auto& [logical, key] : keys.items())
      secret_data[key.get<std::string>()] = net::base64_encode("not-a-real-credential");
    Json secret = {{"apiVersion", "v1"},
                   {"kind", "Secret"},
                   {"metadata", {{"name", ref["name"]}, {"namespace", ns}}},
                   {"data", secret_data}};
    auto sr = api.create(kube::resources::kSecrets, ns, secret);
    EXPECT_TRUE(sr.ok() || sr.error().kind == kube::ErrorKind::AlreadyExists)
        << (sr.ok() ? "" : sr.error().message);
    auto r = api.create(kGpuProviders, "", gp);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  }
  EXPECT_TRUE(refresh_store(api, kGpuProviders, providers).ok());
  ProviderReconciler prov_rec(ctx);
  for (const auto& p : providers.list()) {
    const std::string name = (*p)["metadata"]["name"].get<std::string>();
    (void)prov_rec.reconcile({"", name});
    auto e = registry.entry(name);
    EXPECT_TRUE(e && e->problem.empty()) << name << ": " << (e ? e->problem : "no entry");
  }

  for (const Json& d : yaml_docs(pool_file)) {
    if (d.value("kind", "") != "GpuPool") continue;
    auto r = api.create(kGpuPools, d["metadata"].value("namespace", "default"), d);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  }
  PoolReconciler pool_rec(ctx);
  for (int round = 0; round < 3; ++round) {
    EXPECT_TRUE(refresh_store(api, kGpuPools, pools).ok());
    EXPECT_TRUE(refresh_store(api, kGpuInstances, instances).ok());
    for (const auto& p : pools.list()) {
      (void)pool_rec.reconcile({(*p)["metadata"]["namespace"], (*p)["metadata"]["name"]});
    }
  }
  auto pool_list = api.list(kGpuPools, "");
  EXPECT_TRUE(pool_list.ok());
  if (!pool_list.ok()) return {};
  for (const auto& pj : pool_list->items) {
    for (const auto& c : pj["status"].value("conditions", Json::array())) {
      if (c.value("status", "") == "True" && c.value("type", "") == "Degraded")
        ADD_FAILURE() << "pool degraded: " << c.value("message", "");
    }
  }
  Purchases p;
  auto list = api.list(kGpuInstances, "");
  EXPECT_TRUE(list.ok());
  if (!list.ok()) return p;
  for (const auto& j : list->items) {
    auto i = to_instance(j);
    if (!i) continue;
    p[i->spec.offer.provider + "/" + i->spec.offer.offer_id + "/" + i->spec.offer.region] += 1;
  }
  return p;
}

class PlanAgreement : public ::testing::TestWithParam<const char*> {};

TEST_P(PlanAgreement, PlanPredictsExactlyWhatTheOperatorBuys) {
  const std::string pool_file = source_dir() + "/examples/" + GetParam();
  for (const Time now : {Time{sys_days{year{2026} / November / 22} + 15h + 40min},
                         Time{sys_days{year{2026} / November / 30} + 22h}}) {
    const Purchases plan = planned(pool_file, now);
    EXPECT_FALSE(plan.empty()) << "plan placed nothing at " << format_rfc3339(now);
    EXPECT_EQ(bought(pool_file, now), plan) << "at " << format_rfc3339(now);
  }
}

INSTANTIATE_TEST_SUITE_P(Examples, PlanAgreement,
                         ::testing::Values("l40s-inference-pool.yaml", "l40-or-l40s-pool.yaml"),
                         [](const auto& info) {
                           std::string n = info.param;
                           n = n.substr(0, n.find('.'));
                           for (char& c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

}  // namespace
}  // namespace gpupool::controllers
