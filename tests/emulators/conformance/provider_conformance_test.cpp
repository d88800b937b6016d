// The Provider contract (providers/provider.h), checked the same way for
// every adapter against its emulator over loopback. Each adapter is one
// Harness: how to start its emulator, build the adapter (with good or bad
// credentials), what a buyable intent looks like, and which FaultPlan keys
// its emulator uses for create, list and offers. A new adapter gets the
// whole suite by writing its harness and adding it to kHarnesses (one line).
//
// Time is fake: every wait goes through a FakeSleeper that moves the
// FakeClock, so nothing here sleeps on the real clock.
//
// Each emulator sells the machines the price catalog lists for its provider
// (providers/catalog), so LivePricesMergeOverTheCatalog can check that the
// catalog and the adapter name them alike.

#include <algorithm>
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "providers/aws/ec2_provider.h"
#include "providers/catalog/catalog.h"
#include "providers/container/container_start_script.h"
#include "providers/container/test_container.h"
#include "providers/digitalocean/digitalocean_provider.h"
#include "providers/fluence/fluence_provider.h"
#include "providers/http/curl_transport.h"
#include "providers/lambda/lambda_provider.h"
#include "providers/pricing/price_refresher.h"
#include "providers/runpod/runpod_provider.h"
#include "providers/scaleway/scaleway_provider.h"
#include "providers/vastai/vastai_provider.h"
#include "providers/verda/verda_provider.h"
#include "providers/vultr/vultr_provider.h"
#include "tests/emulators/aws/ec2_emulator.h"
#include "tests/emulators/common/adapter_fixture.h"
#include "tests/emulators/digitalocean/digitalocean_emulator.h"
#include "tests/emulators/fluence/fluence_emulator.h"
#include "tests/emulators/lambda/lambda_emulator.h"
#include "tests/emulators/runpod/runpod_emulator.h"
#include "tests/emulators/scaleway/scaleway_emulator.h"
#include "tests/emulators/vastai/vastai_emulator.h"
#include "tests/emulators/verda/verda_emulator.h"
#include "tests/emulators/vultr/vultr_emulator.h"

namespace gpupool {
namespace {

using emulators::Fault;
using emulators::FaultKind;
using std::chrono::seconds;

constexpr const char* kPoolUid = "uid-conformance";
constexpr const char* kSshKey = "ssh-ed25519 AAAAC3NzaCONFORMANCE operator@gpupool";

// What the suite needs to know about one adapter and its emulator.
struct Harness {
  std::string create_op, list_op, offers_op;  // FaultPlan keys (and request counts)
  std::string offer_id, offer_region;         // what a buyable intent asks for
  // A key/secret the emulator refuses; it must never appear in a log line.
  std::string bad_credential;
  // The provider's throttling answer says how long to wait (Retry-After or
  // a rate-limit reset); EC2 and Vast.ai send none.
  bool throttle_hint = true;
  // False where every container is refused (no way to start one).
  bool runs_containers = true;
  std::function<bool()> start;
  std::function<std::string()> base_url;
  // A fresh adapter; bad_credentials: built with `bad_credential`.
  std::function<std::unique_ptr<Provider>(net::HttpTransport&, bool bad_credentials)> adapter;
  // Set where each intent needs an offer of its own (a marketplace ask).
  std::function<void(InstanceIntent&)> next_offer;
  std::function<emulators::FaultPlan&()> faults;
  std::function<int()> live;      // machines the emulator still runs (not ending or ended)
  std::function<int()> requests;  // requests the emulator has received
  std::function<int(const std::string&)> requests_for;  // ... for one FaultPlan key
  // VM adapters: the boot script (decoded user data) of every machine the
  // emulator holds. Unset where a container runs natively or is refused.
  std::function<std::vector<std::string>()> boot_scripts;
  std::shared_ptr<void> emulator;
};

struct Env {
  FakeClock& clock;
  net::FakeSleeper& sleeper;
  net::LogSink log;
};

net::ClientOptions http_options(const Env& env) {
  net::ClientOptions o;
  o.max_attempts = 3;
  o.jitter_seed = 17;
  o.log = env.log;
  return o;
}

// An adapter of type P from config `c`, pointed at the emulator, with the
// suite's HTTP options and the fixture's clock, sleeper and log.
template <typename P, typename C>
std::unique_ptr<Provider> build(C c, const std::string& url, net::HttpTransport& t, Env env) {
  c.provider_name = "conformance";
  c.endpoint = url;
  c.http = http_options(env);
  return std::make_unique<P>(std::move(c), t, env.clock, env.sleeper);
}

// Wires an emulator object into the harness's common functions.
template <typename E>
void bind(Harness& h, std::shared_ptr<E> e) {
  h.start = [e] { return e->start(); };
  h.base_url = [e] { return e->base_url(); };
  h.faults = [e]() -> emulators::FaultPlan& { return e->faults(); };
  h.requests = [e] { return e->requests(); };
  h.requests_for = [e](const std::string& op) { return e->requests(op); };
  h.emulator = e;
}

// How many of `machines` hold a `Running` (by `running`) machine.
template <typename List, typename Pred>
int count_running(const List& machines, Pred running) {
  return static_cast<int>(std::count_if(machines.begin(), machines.end(), running));
}

// The `field` of every machine in `machines`: their boot scripts.
template <typename List, typename Field>
std::vector<std::string> each(const List& machines, Field field) {
  std::vector<std::string> out;
  out.reserve(machines.size());
  for (const auto& m : machines)
    out.push_back(m.*field);
  return out;
}

Harness aws_harness(Env env) {
  Harness h{"RunInstances", "DescribeInstances", "DescribeInstanceTypeOfferings",
            "g6e.xlarge",   "us-east-1",         "wrong/secret"};
  emulators::Ec2EmulatorOptions o;
  o.clock = &env.clock;
  auto e = std::make_shared<emulators::Ec2Emulator>(o);
  bind(h, e);
  h.throttle_hint = false;
  h.live = [e] { return e->alive(); };
  h.boot_scripts = [e] { return each(e->instances(), &emulators::EmulatedInstance::user_data); };
  h.adapter = [e, env, bad_secret = h.bad_credential](net::HttpTransport& t,
                                                      bool bad) -> std::unique_ptr<Provider> {
    aws::Ec2Config c;
    c.region = "us-east-1";
    c.credentials = {"AKIDEMULATOR", bad ? bad_secret : "emulator/secret/KEY", ""};
    c.image_id = "ami-0123456789abcdef0";
    // As the registry does: instance-type prices from the catalog.
    for (const Offer& row : catalog::offers_for_type("aws"))
      c.prices.emplace(row.id, row.price_per_hour);
    return build<aws::Ec2Provider>(c, e->base_url(), t, env);
  };
  return h;
}

Harness fluence_harness(Env env) {
  Harness h{"create", "list", "plans", "plan-l40s-1", "us-central-3", "fluence-wrong"};
  emulators::FluenceEmulatorOptions o;
  o.clock = &env.clock;
  o.plans = {
      {"plan-l40s-1", "l40s", 1, "us-central-3", "massed-compute", Money::parse("1.07").value(),
       -1},
      {"plan-l40-1", "l40", 1, "culpeper-usa-1", "sesterce", Money::parse("1.27").value(), -1}};
  auto e = std::make_shared<emulators::FluenceEmulator>(o);
  bind(h, e);
  h.runs_containers = false;
  h.live = [e] {
    return count_running(e->vms(), [](const auto& vm) {
      return vm.status == "INITIALIZED" || vm.status == "ACTIVE";
    });
  };
  h.adapter = [e, env, bad_key = h.bad_credential](net::HttpTransport& t,
                                                   bool bad) -> std::unique_ptr<Provider> {
    fluence::FluenceConfig c;
    c.api_key = bad ? bad_key : "fluence-test-key";
    return build<fluence::FluenceProvider>(c, e->base_url(), t, env);
  };
  return h;
}

Harness runpod_harness(Env env) {
  Harness h{"create", "list", "prices", "SECURE/NVIDIA L40S", "EU-RO-1", "rp-wrong"};
  emulators::RunpodEmulatorOptions o;
  o.clock = &env.clock;
  o.gpu_types = {{"NVIDIA L40S", "L40S", 48, Money::parse("0.86").value(),
                  Money::parse("0.79").value(), -1, -1},
                 {"NVIDIA L40", "L40", 48, Money::parse("0.99").value(), Money(), -1, -1}};
  for (auto& g : o.gpu_types)
    g.data_centers = {"US-TX-3", "EU-RO-1"};
  auto e = std::make_shared<emulators::RunpodEmulator>(o);
  bind(h, e);
  h.live = [e] { return e->alive(); };
  h.adapter = [e, env, bad_key = h.bad_credential](net::HttpTransport& t,
                                                   bool bad) -> std::unique_ptr<Provider> {
    runpod::RunpodConfig c;
    c.api_key = bad ? bad_key : "rp-test-key";
    return build<runpod::RunpodProvider>(c, e->base_url(), t, env);
  };
  return h;
}

Harness vastai_harness(Env env) {
  Harness h{"create", "list", "search", "", "US", "vast-wrong"};
  emulators::VastEmulatorOptions o;
  o.clock = &env.clock;
  auto m = [](const char* s) { return Money::parse(s).value(); };
  for (int64_t id = 101; id <= 120; ++id)
    o.asks.push_back({id, "L40S", 1, m("0.62"), m("0.01"), "Texas, US", 0.99, true});
  o.asks.push_back({90, "L40", 1, m("0.69"), m("0.01"), "Quebec, CA", 0.99, true});
  auto e = std::make_shared<emulators::VastEmulator>(o);
  bind(h, e);
  h.throttle_hint = false;
  h.live = [e] { return e->alive(); };
  h.adapter = [e, env, bad_key = h.bad_credential](net::HttpTransport& t,
                                                   bool bad) -> std::unique_ptr<Provider> {
    vastai::VastConfig c;
    c.api_key = bad ? bad_key : "vast-test-key";
    return build<vastai::VastProvider>(c, e->base_url(), t, env);
  };
  // Each ask is one machine: every intent rents the next free one.
  auto next = std::make_shared<std::atomic<int>>(101);
  h.next_offer = [next](InstanceIntent& i) { i.offer.id = std::to_string(next->fetch_add(1)); };
  return h;
}

Harness lambda_harness(Env env) {
  Harness h{"launch", "list", "types", "gpu_1x_l40s", "us-east-1", "lambda-wrong"};
  emulators::LambdaEmulatorOptions o;
  o.clock = &env.clock;
  o.types = {{"gpu_1x_l40s", "L40S (48 GB PCIe)", 1, 129, {{"us-east-1", -1}}}};
  auto e = std::make_shared<emulators::LambdaEmulator>(o);
  bind(h, e);
  h.live = [e] {
    return count_running(e->instances(), [](const auto& i) {
      return i.status == "booting" || i.status == "active";
    });
  };
  h.boot_scripts = [e] { return each(e->instances(), &emulators::LambdaInstance::user_data); };
  h.adapter = [e, env, bad_key = h.bad_credential](net::HttpTransport& t,
                                                   bool bad) -> std::unique_ptr<Provider> {
    lambda::LambdaConfig c;
    c.api_key = bad ? bad_key : "lambda-test-key";
    c.ssh_key_name = "operator";
    return build<lambda::LambdaProvider>(c, e->base_url(), t, env);
  };
  return h;
}

Harness verda_harness(Env env) {
  Harness h{"create", "list", "types", "1L40S.20V", "FIN-03", "verda-wrong"};
  emulators::VerdaEmulatorOptions o;
  o.clock = &env.clock;
  o.types = {{"1L40S.20V",
              "1x L40S 48GB",
              1,
              0.91,
              {{"FIN-01", -1}, {"FIN-02", -1}, {"FIN-03", -1}, {"ICE-01", -1}}}};
  auto e = std::make_shared<emulators::VerdaEmulator>(o);
  bind(h, e);
  h.live = [e] {
    return count_running(e->instances(), [](const auto& i) { return i.status != "deleting"; });
  };
  h.boot_scripts = [e] { return each(e->instances(), &emulators::VerdaInstance::startup_script); };
  h.adapter = [e, env, bad_secret = h.bad_credential](net::HttpTransport& t,
                                                      bool bad) -> std::unique_ptr<Provider> {
    verda::VerdaConfig c;
    c.client_id = "verda-client";
    c.client_secret = bad ? bad_secret : "verda-secret";
    return build<verda::VerdaProvider>(c, e->base_url(), t, env);
  };
  return h;
}

Harness digitalocean_harness(Env env) {
  Harness h{"create", "list", "sizes", "gpu-l40sx1-48gb", "tor1", "do-wrong"};
  emulators::DoEmulatorOptions o;
  o.clock = &env.clock;
  o.sizes = {{"gpu-l40sx1-48gb", "nvidia_l40s", 1, 1.57, {{"tor1", -1}}}};
  o.max_per_page = 2;  // so paging is exercised
  auto e = std::make_shared<emulators::DoEmulator>(o);
  bind(h, e);
  h.live = [e] { return static_cast<int>(e->droplets().size()); };
  h.boot_scripts = [e] { return each(e->droplets(), &emulators::DoDroplet::user_data); };
  h.adapter = [e, env, bad_token = h.bad_credential](net::HttpTransport& t,
                                                     bool bad) -> std::unique_ptr<Provider> {
    digitalocean::DoConfig c;
    c.api_token = bad ? bad_token : "do-test-token";
    c.page_size = 2;
    return build<digitalocean::DoProvider>(c, e->base_url(), t, env);
  };
  return h;
}

Harness scaleway_harness(Env env) {
  Harness h{"create", "list", "products", "L40S-1-48G", "fr-par-2", "scw-wrong"};
  emulators::ScwEmulatorOptions o;
  o.clock = &env.clock;
  o.types = {{"L40S-1-48G", "L40S", 1, 1.40, {{"fr-par-2", -1}}}};
  o.max_per_page = 2;
  auto e = std::make_shared<emulators::ScwEmulator>(o);
  bind(h, e);
  h.live = [e] {
    return count_running(e->servers(), [](const auto& s) { return s.state != "stopping"; });
  };
  h.boot_scripts = [e] { return each(e->servers(), &emulators::ScwServer::cloud_init); };
  h.adapter = [e, env, bad_key = h.bad_credential](net::HttpTransport& t,
                                                   bool bad) -> std::unique_ptr<Provider> {
    scaleway::ScwConfig c;
    c.secret_key = bad ? bad_key : "scw-test-secret";
    c.project_id = "proj-1";
    c.page_size = 2;
    return build<scaleway::ScwProvider>(c, e->base_url(), t, env);
  };
  return h;
}

Harness vultr_harness(Env env) {
  Harness h{"create", "list", "plans", "vcg-l40s-16c-180g-48vram", "ewr", "vultr-wrong"};
  emulators::VultrEmulatorOptions o;
  o.clock = &env.clock;
  o.plans = {{"vcg-l40s-16c-180g-48vram", "NVIDIA_L40S", 48, 2.09, {{"ewr", -1}}}};
  o.max_per_page = 2;
  auto e = std::make_shared<emulators::VultrEmulator>(o);
  bind(h, e);
  h.live = [e] { return static_cast<int>(e->instances().size()); };
  h.boot_scripts = [e] { return each(e->instances(), &emulators::VultrInstance::user_data); };
  h.adapter = [e, env, bad_key = h.bad_credential](net::HttpTransport& t,
                                                   bool bad) -> std::unique_ptr<Provider> {
    vultr::VultrConfig c;
    c.api_key = bad ? bad_key : "vultr-test-key";
    c.page_size = 2;
    return build<vultr::VultrProvider>(c, e->base_url(), t, env);
  };
  return h;
}

struct Entry {
  const char* name;
  Harness (*make)(Env);
};

// One line per adapter.
constexpr Entry kHarnesses[] = {
    {"aws", aws_harness},
    {"fluence", fluence_harness},
    {"runpod", runpod_harness},
    {"vastai", vastai_harness},
    {"lambda", lambda_harness},
    {"verda", verda_harness},
    {"digitalocean", digitalocean_harness},
    {"scaleway", scaleway_harness},
    {"vultr", vultr_harness},
};

class ProviderConformance : public ::testing::TestWithParam<Entry>,
                            protected emulators::AdapterLogCapture {
 protected:
  ProviderConformance()
      : clock_(Time(std::chrono::sys_days(std::chrono::year(2026) / 11 / 29))),
        sleeper_(&clock_),
        h_(GetParam().make(Env{clock_, sleeper_, log_sink()})) {}

  void SetUp() override { ASSERT_TRUE(h_.start()); }

  std::unique_ptr<Provider> adapter(bool bad = false) { return h_.adapter(transport_, bad); }

  InstanceIntent intent(const std::string& name) const {
    InstanceIntent i;
    i.name = name;
    i.pool_uid = kPoolUid;
    i.pool_namespace = "ml";
    i.pool_name = "conformance";
    i.offer.id = h_.offer_id;
    i.offer.region = h_.offer_region;
    i.offer.gpu_model = "L40S";
    i.offer.gpu_count = 1;
    i.offer.price_per_hour = Money::from_cents(100);
    i.ssh_public_key = kSshKey;
    i.user_data = "#!/bin/sh\necho join\n";
    if (h_.next_offer) h_.next_offer(i);
    return i;
  }

  FakeClock clock_;
  net::FakeSleeper sleeper_;
  net::CurlTransport transport_{[] {
    net::CurlOptions o;
    o.total_timeout = std::chrono::milliseconds(15000);  // generous: machines are busy
    return o;
  }()};
  // For lost answers: the client gives up soon.
  net::CurlTransport short_transport_{[] {
    net::CurlOptions o;
    o.total_timeout = std::chrono::milliseconds(1500);
    return o;
  }()};
  Harness h_;
};

TEST_P(ProviderConformance, CreateIsIdempotentOnTheIntentName) {
  auto p = adapter();
  auto first = p->create(intent("conf-0"));
  ASSERT_TRUE(first.ok()) << describe(first.error());
  auto again = p->create(intent("conf-0"));
  ASSERT_TRUE(again.ok()) << describe(again.error());
  EXPECT_EQ(again->provider_id, first->provider_id);
  EXPECT_EQ(h_.live(), 1);
  auto got = p->get(kPoolUid, "conf-0");
  ASSERT_TRUE(got.ok()) << describe(got.error());
  EXPECT_EQ(got->provider_id, first->provider_id);
  MachineFilter f;
  f.pool_uid = kPoolUid;
  auto listed = p->list(f);
  ASSERT_TRUE(listed.ok()) << describe(listed.error());
  EXPECT_EQ(listed->size(), 1u);
  EXPECT_EQ(listed->at(0).pool_uid(), kPoolUid);
  auto missing = p->get(kPoolUid, "conf-nobody");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind, ProviderErrorKind::NotFound);
}

// Endpoint mode (issue 13): every adapter either runs the container and,
// once the machine is up, says where its port is reached (get and list
// alike), or (no way to start it: no user data, no native containers)
// refuses it as InvalidRequest before any request. A VM adapter runs it
// with the container start script as the machine's user data, so the port
// reached is the container's own. The container's env never reaches a log.
TEST_P(ProviderConformance, AnEndpointMachineSaysWhereItsPortIsReached) {
  auto p = adapter();
  const InstanceIntent ep = container::endpoint_of(intent("conf-ep"));
  auto m = p->create(ep);
  if (!m.ok()) {
    EXPECT_EQ(m.error().kind, ProviderErrorKind::InvalidRequest) << describe(m.error());
    EXPECT_EQ(p->user_data_support(), UserDataSupport::None) << describe(m.error());
    EXPECT_EQ(h_.requests(), 0);
    return;
  }
  if (h_.boot_scripts) {
    EXPECT_EQ(h_.boot_scripts(),
              std::vector<std::string>{container::render_container_start_script(ep.container)});
  }
  clock_.advance(seconds(600));  // booted everywhere
  auto got = p->get(kPoolUid, "conf-ep");
  ASSERT_TRUE(got.ok()) << describe(got.error());
  EXPECT_FALSE(got->public_address.empty());
  EXPECT_GT(got->public_port, 0);
  EXPECT_LE(got->public_port, 65535);
  if (h_.boot_scripts) EXPECT_EQ(got->public_port, ep.container.port);
  auto listed = p->list({});
  ASSERT_TRUE(listed.ok()) << describe(listed.error());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ(listed->at(0).public_address, got->public_address);
  EXPECT_EQ(listed->at(0).public_port, got->public_port);
  expect_not_logged(ep.container.env.begin()->second);  // the HF token
}

TEST_P(ProviderConformance, NodeMachinesHaveNoPublicPort) {
  auto p = adapter();
  ASSERT_TRUE(p->create(intent("conf-node")).ok());
  clock_.advance(seconds(600));  // booted everywhere
  auto got = p->get(kPoolUid, "conf-node");
  ASSERT_TRUE(got.ok()) << describe(got.error());
  EXPECT_EQ(got->public_port, 0);
}

TEST_P(ProviderConformance, AContainerWithABootstrapIsRefusedBeforeAnyRequest) {
  auto p = adapter();
  InstanceIntent both = container::endpoint_of(intent("conf-both"));
  both.user_data = "#!/bin/sh\necho join\n";
  auto m = p->create(both);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().kind, ProviderErrorKind::InvalidRequest) << describe(m.error());
  if (h_.runs_containers) {
    EXPECT_NE(m.error().message.find("one mode"), std::string::npos) << m.error().message;
  }
  EXPECT_EQ(h_.requests(), 0);
}

TEST_P(ProviderConformance, FindsTheMachineAfterALostCreateAnswer) {
  h_.faults().add(h_.create_op, Fault{FaultKind::LoseAnswer});
  auto impatient = h_.adapter(short_transport_, false);
  auto lost = impatient->create(intent("conf-lost"));
  if (!lost.ok()) {
    EXPECT_EQ(lost.error().kind, ProviderErrorKind::Transient) << describe(lost.error());
  }
  // A restarted operator: a fresh adapter finds the machine by name instead
  // of buying a second one.
  auto p = adapter();
  auto found = p->create(intent("conf-lost"));
  ASSERT_TRUE(found.ok()) << describe(found.error());
  EXPECT_EQ(h_.live(), 1);
  auto got = p->get(kPoolUid, "conf-lost");
  ASSERT_TRUE(got.ok()) << describe(got.error());
  EXPECT_EQ(got->provider_id, found->provider_id);
}

TEST_P(ProviderConformance, TerminateIsCalledUntilNotFound) {
  auto p = adapter();
  auto m = p->create(intent("conf-end"));
  ASSERT_TRUE(m.ok()) << describe(m.error());
  clock_.advance(seconds(300));  // booted everywhere
  bool ended = false;
  for (int round = 0; round < 30 && !ended; ++round) {
    auto t = p->terminate(m->provider_id);
    if (!t.ok()) {
      ASSERT_TRUE(t.error().kind == ProviderErrorKind::NotFound || t.error().retryable())
          << describe(t.error());
      ended = t.error().kind == ProviderErrorKind::NotFound;
    }
    auto got = p->get(kPoolUid, "conf-end");
    if (!got.ok()) {
      ASSERT_EQ(got.error().kind, ProviderErrorKind::NotFound) << describe(got.error());
      ended = true;
    } else if (got->state == MachineState::Terminated) {
      ended = true;
    }
    clock_.advance(seconds(60));
  }
  EXPECT_TRUE(ended);
  EXPECT_EQ(h_.live(), 0);
  MachineFilter f;
  f.pool_uid = kPoolUid;
  auto listed = p->list(f);
  ASSERT_TRUE(listed.ok()) << describe(listed.error());
  EXPECT_TRUE(listed->empty());
}

TEST_P(ProviderConformance, SoldOutIsNoCapacity) {
  auto p = adapter();
  h_.faults().add(h_.create_op, Fault{FaultKind::NoCapacity});
  auto r = p->create(intent("conf-full"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ProviderErrorKind::NoCapacity) << describe(r.error());
  EXPECT_EQ(h_.live(), 0);
  EXPECT_TRUE(p->create(intent("conf-full")).ok());
}

// A throttled call waits at least what the provider asked (Retry-After, or
// the adapter's backoff where none is sent) and is repeated within the
// client's attempts; beyond them it is RateLimited with a hint.
TEST_P(ProviderConformance, ThrottlingIsRetriedThenRateLimitedWithAHint) {
  auto p = adapter();
  int before = h_.requests_for(h_.offers_op);
  ASSERT_TRUE(p->offers({}).ok());
  const int unthrottled = h_.requests_for(h_.offers_op) - before;
  h_.faults().add(h_.offers_op, Fault{FaultKind::Throttle, {}, seconds(2)}, 2);
  before = h_.requests_for(h_.offers_op);
  auto recovered = p->offers({});
  ASSERT_TRUE(recovered.ok()) << describe(recovered.error());
  EXPECT_EQ(h_.requests_for(h_.offers_op) - before, unthrottled + 2);
  if (h_.throttle_hint) {
    const auto waits = sleeper_.waits();
    EXPECT_TRUE(std::any_of(waits.begin(), waits.end(),
                            [](auto w) { return w >= std::chrono::milliseconds(2000); }));
  }
  h_.faults().add(h_.offers_op, Fault{FaultKind::Throttle, {}, seconds(3)}, 10);
  auto r = p->offers({});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ProviderErrorKind::RateLimited) << describe(r.error());
  EXPECT_GT(r.error().retry_after.count(), 0);
  EXPECT_TRUE(r.error().retryable());
  h_.faults().clear();
  auto again = p->offers({});
  ASSERT_TRUE(again.ok()) << describe(again.error());
  EXPECT_FALSE(again->empty());
}

// A refused credential costs one request per call, stops a create before
// anything is bought, and never reaches a log line.
TEST_P(ProviderConformance, BadCredentialsAreUnauthorizedWithoutARetryStorm) {
  auto p = adapter(/*bad=*/true);
  const int before = h_.requests();
  auto r = p->list({});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ProviderErrorKind::Unauthorized) << describe(r.error());
  EXPECT_FALSE(r.error().retryable());
  EXPECT_EQ(h_.requests() - before, 1);
  const int after_list = h_.requests();
  auto o = p->offers({});
  ASSERT_FALSE(o.ok());
  EXPECT_EQ(o.error().kind, ProviderErrorKind::Unauthorized) << describe(o.error());
  EXPECT_EQ(h_.requests() - after_list, 1);
  auto c = p->create(intent("conf-unauthorized"));
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().kind, ProviderErrorKind::Unauthorized) << describe(c.error());
  EXPECT_EQ(c.error().message.find(h_.bad_credential), std::string::npos) << c.error().message;
  // Refused by the lookup before it, or (EC2: RunInstances is idempotent by
  // its client token, no lookup) the one create refused, never repeated.
  EXPECT_LE(h_.requests_for(h_.create_op), 1);
  EXPECT_EQ(h_.live(), 0);
  expect_not_logged(h_.bad_credential);
  std::lock_guard lock(log_mu_);
  EXPECT_FALSE(log_.empty());  // the refusals are logged, without the credential
}

TEST_P(ProviderConformance, UnreadableAnswersAreTransient) {
  // provider.h: a 2xx the adapter cannot read is Transient (a truncated
  // body or a proxy's page, most likely; the same call usually works).
  auto p = adapter();
  h_.faults().add(h_.list_op, Fault{FaultKind::Garbled});
  auto l = p->list({});
  ASSERT_FALSE(l.ok());
  EXPECT_EQ(l.error().kind, ProviderErrorKind::Transient) << describe(l.error());
  EXPECT_NE(l.error().message.find("unreadable"), std::string::npos) << l.error().message;
  h_.faults().add(h_.offers_op, Fault{FaultKind::Garbled});
  auto o = p->offers({});
  ASSERT_FALSE(o.ok());
  EXPECT_EQ(o.error().kind, ProviderErrorKind::Transient) << describe(o.error());
  // A gateway's HTML error page is Transient too (by its 5xx status).
  h_.faults().add(h_.list_op, Fault{FaultKind::GarbledError}, 5);
  auto g = p->list({});
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.error().kind, ProviderErrorKind::Transient) << describe(g.error());
  h_.faults().clear();
  EXPECT_TRUE(p->list({}).ok());
  // An unreadable create answer: Transient, and the repeat (found by name
  // if the machine was made) leaves one machine.
  h_.faults().add(h_.create_op, Fault{FaultKind::Garbled});
  auto c = p->create(intent("conf-garbled"));
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().kind, ProviderErrorKind::Transient) << describe(c.error());
  auto again = p->create(intent("conf-garbled"));
  ASSERT_TRUE(again.ok()) << describe(again.error());
  EXPECT_EQ(h_.live(), 1);
}

TEST_P(ProviderConformance, ListReadsEveryPage) {
  auto p = adapter();
  for (int i = 0; i < 5; ++i) {
    auto m = p->create(intent("conf-page-" + std::to_string(i)));
    ASSERT_TRUE(m.ok()) << describe(m.error());
  }
  MachineFilter f;
  f.pool_uid = kPoolUid;
  auto listed = p->list(f);
  ASSERT_TRUE(listed.ok()) << describe(listed.error());
  EXPECT_EQ(listed->size(), 5u);
  std::set<std::string> ids;
  for (const auto& m : *listed)
    ids.insert(m.provider_id);
  EXPECT_EQ(ids.size(), 5u);
}

TEST_P(ProviderConformance, OneAdapterServesConcurrentCallers) {
  auto p = adapter();
  constexpr int kThreads = 4;
  std::vector<std::string> ids(kThreads);
  std::vector<std::string> errors(kThreads);
  std::vector<InstanceIntent> intents;
  intents.reserve(static_cast<size_t>(kThreads));
  for (int i = 0; i < kThreads; ++i)
    intents.push_back(intent("conf-par-" + std::to_string(i)));
  {
    std::vector<std::thread> threads;
    threads.reserve(static_cast<size_t>(kThreads));
    for (int i = 0; i < kThreads; ++i) {
      threads.emplace_back([&, i] {
        auto m = p->create(intents[static_cast<size_t>(i)]);
        if (m.ok()) {
          ids[static_cast<size_t>(i)] = m->provider_id;
        } else {
          errors[static_cast<size_t>(i)] = describe(m.error());
        }
        (void)p->list({});
      });
    }
    for (auto& t : threads)
      t.join();
  }
  for (const auto& e : errors)
    EXPECT_EQ(e, "");
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), static_cast<size_t>(kThreads));
  EXPECT_EQ(h_.live(), kThreads);
}

// Issue 11: every live offer names its region in the adapter type's
// documented form (provider.h "Regions"), the form catalog rows use too
// (catalog_test RegionsHaveTheAdaptersForm), so a GpuProvider's region list
// selects live and catalog offers alike.
TEST_P(ProviderConformance, LiveOfferRegionsHaveTheTypesForm) {
  const std::string type = GetParam().name;
  OfferQuery q;
  q.max_gpu_count = 1;
  auto live = adapter()->offers(q);
  ASSERT_TRUE(live.ok()) << describe(live.error());
  ASSERT_FALSE(live->empty());
  for (const Offer& o : *live)
    EXPECT_TRUE(region_has_form(type, o.region)) << o.id << ": region '" << o.region << "'";
}

// Issue 11: live prices merge over the catalog instead of sitting beside it.
// Every catalog row of the adapter's type has a live offer with the row's id
// (for listing providers, Vast.ai and Fluence, a live listing of the row's
// GPU model and count: catalog::OfferIds), and the merged price list never
// shows one machine twice, once at a catalog price and once at a live one.
TEST_P(ProviderConformance, LivePricesMergeOverTheCatalog) {
  const std::string type = GetParam().name;
  api::GpuProvider gp;
  gp.metadata.name = "conformance";
  gp.spec.type = type;
  const bool listing = catalog::offer_ids_of_type(type) == catalog::OfferIds::Listing;
  const pricing::Inputs in =
      pricing::Inputs::from(gp, catalog::offers_for(gp, catalog::planning_options()));
  auto p = adapter();
  auto live = p->offers(in.query);
  ASSERT_TRUE(live.ok()) << describe(live.error());
  ASSERT_FALSE(live->empty());
  // Shapes: every machine size the planner may ask for (Runpod's "x2".."x8"
  // pods too); listings: the rows' own shapes (a market need not list every
  // size).
  const std::vector<Offer> rows =
      listing ? catalog::offers_for(gp) : catalog::offers_for(gp, catalog::planning_options());
  for (const Offer& row : rows) {
    const bool found = std::any_of(live->begin(), live->end(), [&](const Offer& l) {
      if (listing) return l.gpu_model == row.gpu_model && l.gpu_count == row.gpu_count;
      return l.id == row.id && (row.region.empty() || l.region == row.region);
    });
    EXPECT_TRUE(found) << "catalog offer \"" << row.id << "\" in \"" << row.region
                       << "\" has no live offer with its id";
  }
  const std::vector<Offer> merged = pricing::merge(in, *live, clock_.now());
  int live_in_merged = 0;
  for (const Offer& c : merged) {
    if (pricing::is_live(c)) {
      ++live_in_merged;
      continue;
    }
    for (const Offer& l : merged) {
      const bool same_machine = pricing::is_live(l) && l.gpu_model == c.gpu_model &&
                                l.gpu_count == c.gpu_count && l.tier == c.tier &&
                                (listing || c.region.empty() || c.region == l.region);
      EXPECT_FALSE(same_machine) << "catalog offer \"" << c.id << "\" sits beside live offer \""
                                 << l.id << "\" in \"" << l.region << "\"";
    }
  }
  EXPECT_EQ(live_in_merged, static_cast<int>(live->size()));
}

INSTANTIATE_TEST_SUITE_P(Adapters, ProviderConformance, ::testing::ValuesIn(kHarnesses),
                         [](const ::testing::TestParamInfo<Entry>& param) {
                           return std::string(param.param.name);
                         });

}  // namespace
}  // namespace gpupool
