// The EC2 adapter against the stateful EC2 emulator over real loopback HTTP
// (curl transport). Waiting between retries goes through a FakeSleeper that
// moves the shared FakeClock, so nothing here sleeps.
#include "providers/aws/ec2_provider.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "providers/http/curl_transport.h"
#include "providers/http/fake_transport.h"
#include "tests/emulators/aws/ec2_emulator.h"
#include "tests/emulators/common/adapter_fixture.h"

namespace gpupool::aws {
namespace {

using emulators::Fault;
using emulators::FaultKind;
using std::chrono::seconds;

class Ec2ProviderTest
    : public emulators::AdapterTest<emulators::Ec2Emulator, emulators::Ec2EmulatorOptions> {
 protected:
  Ec2ProviderTest()
      : AdapterTest(Time(std::chrono::sys_days(std::chrono::year(2026) / 1 / 5)),
                    [](emulators::Ec2EmulatorOptions&) {}) {}

  // The adapter is shared by threads (ConcurrentCallersShareOneAdapter), so
  // its log hook is called concurrently.
  Ec2Config config() {
    auto c = adapter_config<Ec2Config>("aws-main", 1);
    c.region = "us-east-1";
    c.credentials = {"AKIDEMULATOR", "emulator/secret/KEY", ""};
    c.image_id = "ami-0123456789abcdef0";
    c.prices = {{"g6e.xlarge", Money::parse("1.861").value()},
                {"g6e.12xlarge", Money::parse("10.4926").value()},
                {"g6e.4xlarge", Money::parse("3.0").value()}};
    return c;
  }

  InstanceIntent intent(std::string name = "pool-a-0", std::string type = "g6e.xlarge") {
    InstanceIntent i;
    i.name = std::move(name);
    i.pool_uid = "uid-1234";
    i.pool_namespace = "ml";
    i.pool_name = "pool-a";
    i.offer.id = std::move(type);
    i.user_data = "#!/bin/sh\necho join --token abc\n";
    i.labels = {{"team", "research"}};
    return i;
  }
};

TEST_F(Ec2ProviderTest, OffersAreG6eTypesOfferedInTheRegionWithConfiguredPrices) {
  Ec2Provider p(config(), transport_, clock_, sleeper_);
  OfferQuery q;
  q.gpu_models = {"L40S"};
  auto offers = p.offers(q);
  ASSERT_TRUE(offers.ok()) << describe(offers.error());
  // g6e.4xlarge has a price but the region does not offer it.
  ASSERT_EQ(offers->size(), 2u);
  EXPECT_EQ((*offers)[0].id, "g6e.12xlarge");
  EXPECT_EQ((*offers)[0].gpu_count, 4);
  EXPECT_EQ((*offers)[1].id, "g6e.xlarge");
  EXPECT_EQ((*offers)[1].gpu_model, "L40S");
  EXPECT_EQ((*offers)[1].price_per_hour, Money::parse("1.861").value());
  EXPECT_EQ((*offers)[1].billing.minimum, Duration(60));
  q.max_gpu_count = 1;
  EXPECT_EQ(p.offers(q)->size(), 1u);
  q.gpu_models = {"L40"};
  EXPECT_TRUE(p.offers(q)->empty());
  q.gpu_models = {};
  q.regions = {"eu-west-1"};
  EXPECT_TRUE(p.offers(q)->empty());
  // GPU facts come from DescribeInstanceTypes once, then from the cache.
  EXPECT_EQ(emulator_.requests("DescribeInstanceTypes"), 1);
}

TEST_F(Ec2ProviderTest, CreateTagsTheInstanceAndIsIdempotentOnTheIntentName) {
  Ec2Provider p(config(), transport_, clock_, sleeper_);
  auto m = p.create(intent());
  ASSERT_TRUE(m.ok()) << describe(m.error());
  EXPECT_EQ(m->state, MachineState::Pending);
  EXPECT_EQ(m->name, "pool-a-0");
  EXPECT_EQ(m->pool_uid(), "uid-1234");
  EXPECT_EQ(m->tags.at(std::string(kTagManagedBy)), "gpupool-operator");
  EXPECT_EQ(m->tags.at(std::string(kTagPool)), "ml/pool-a");
  EXPECT_EQ(m->tags.at("team"), "research");
  EXPECT_EQ(m->gpu_model, "L40S");
  EXPECT_EQ(m->region, "us-east-1");
  EXPECT_EQ(m->price_per_hour, Money::parse("1.861").value());
  ASSERT_TRUE(m->launch_time.has_value());
  EXPECT_EQ(*m->launch_time, clock_.now());

  auto again = p.create(intent());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->provider_id, m->provider_id);
  auto all = emulator_.instances();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].user_data, "#!/bin/sh\necho join --token abc\n");
  EXPECT_EQ(all[0].client_token, client_token("uid-1234", "pool-a-0", "g6e.xlarge"));
  EXPECT_LE(all[0].client_token.size(), 64u);

  clock_.advance(seconds(31));
  auto got = p.get("uid-1234", "pool-a-0");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->provider_id, m->provider_id);
  EXPECT_EQ(got->state, MachineState::Running);
  EXPECT_FALSE(got->public_address.empty());
  EXPECT_EQ(p.get("uid-1234", "other").error().kind, ProviderErrorKind::NotFound);
  EXPECT_EQ(p.get("uid-other", "pool-a-0").error().kind, ProviderErrorKind::NotFound);
}

TEST_F(Ec2ProviderTest, SameNameWithDifferentParametersIsRefused) {
  Ec2Provider p(config(), transport_, clock_, sleeper_);
  ASSERT_TRUE(p.create(intent()).ok());
  InstanceIntent changed = intent();
  changed.user_data = "#!/bin/sh\necho another\n";
  auto other = p.create(changed);
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.error().kind, ProviderErrorKind::InvalidRequest);
  EXPECT_NE(other.error().message.find("IdempotentParameterMismatch"), std::string::npos);
  EXPECT_EQ(emulator_.instances().size(), 1u);
}

TEST_F(Ec2ProviderTest, LostCreateAnswerIsRecoveredByTheRetryWithoutADuplicate) {
  Ec2Provider p(config(), short_transport_, clock_, sleeper_);
  emulator_.faults().add("RunInstances", Fault{FaultKind::LoseAnswer});
  auto m = p.create(intent());
  ASSERT_TRUE(m.ok()) << describe(m.error());
  EXPECT_EQ(emulator_.requests("RunInstances"), 2);
  EXPECT_EQ(emulator_.instances().size(), 1u);
  EXPECT_EQ(emulator_.instances()[0].id, m->provider_id);
}

TEST_F(Ec2ProviderTest, FindAfterCrashWhenEveryCreateAnswerWasLost) {
  std::string id;
  {
    Ec2Provider p(config(), short_transport_, clock_, sleeper_);
    emulator_.faults().add("RunInstances", Fault{FaultKind::LoseAnswer}, 3);
    auto m = p.create(intent());
    ASSERT_FALSE(m.ok());
    EXPECT_EQ(m.error().kind, ProviderErrorKind::Transient);
    EXPECT_NE(m.error().message.find("outcome is unknown"), std::string::npos);
    ASSERT_EQ(emulator_.instances().size(), 1u);  // it did launch
    id = emulator_.instances()[0].id;
  }
  // The operator restarts: a new adapter finds the machine by its tags and a
  // repeated create returns it instead of buying another.
  Ec2Provider restarted(config(), transport_, clock_, sleeper_);
  auto found = restarted.get("uid-1234", "pool-a-0");
  ASSERT_TRUE(found.ok()) << describe(found.error());
  EXPECT_EQ(found->provider_id, id);
  auto again = restarted.create(intent());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->provider_id, id);
  EXPECT_EQ(emulator_.instances().size(), 1u);
}

TEST_F(Ec2ProviderTest, TerminateUntilNotFoundAndBilling) {
  Ec2Provider p(config(), transport_, clock_, sleeper_);
  auto m = p.create(intent());
  ASSERT_TRUE(m.ok());
  clock_.advance(seconds(45));
  ASSERT_TRUE(p.terminate(m->provider_id).ok());
  EXPECT_EQ(p.get("uid-1234", "pool-a-0")->state, MachineState::Terminating);
  EXPECT_TRUE(p.terminate(m->provider_id).ok());  // still shutting down: call again later
  clock_.advance(seconds(11));
  auto gone = p.terminate(m->provider_id);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().kind, ProviderErrorKind::NotFound);
  EXPECT_EQ(p.get("uid-1234", "pool-a-0")->state, MachineState::Terminated);
  EXPECT_EQ(emulator_.billed_seconds(m->provider_id), 60);  // 45 s used, 60 s minimum

  auto listed = p.list({});
  ASSERT_TRUE(listed.ok());
  EXPECT_TRUE(listed->empty());
  MachineFilter all;
  all.include_terminated = true;
  EXPECT_EQ(p.list(all)->size(), 1u);

  auto unknown = p.terminate("i-00000000000000001");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().kind, ProviderErrorKind::NotFound);
}

TEST_F(Ec2ProviderTest, ListReturnsOnlyOwnedMachinesOfThePool) {
  Ec2Provider p(config(), transport_, clock_, sleeper_);
  ASSERT_TRUE(p.create(intent("a-0")).ok());
  ASSERT_TRUE(p.create(intent("a-1")).ok());
  InstanceIntent other = intent("b-0");
  other.pool_uid = "uid-other";
  ASSERT_TRUE(p.create(other).ok());
  MachineFilter f;
  f.pool_uid = "uid-1234";
  auto mine = p.list(f);
  ASSERT_TRUE(mine.ok());
  EXPECT_EQ(mine->size(), 2u);
  EXPECT_EQ(p.list({})->size(), 3u);
}

TEST_F(Ec2ProviderTest, ListFollowsNextToken) {
  Ec2Config c = config();
  c.describe_page_size = 5;
  Ec2Provider p(c, transport_, clock_, sleeper_);
  for (int i = 0; i < 12; ++i)
    ASSERT_TRUE(p.create(intent("m-" + std::to_string(i))).ok());
  int before = emulator_.requests("DescribeInstances");
  auto all = p.list({});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 12u);
  EXPECT_EQ(emulator_.requests("DescribeInstances") - before, 3);  // 5 + 5 + 2
}

TEST_F(Ec2ProviderTest, ConcurrentCallersShareOneAdapter) {
  Ec2Provider p(config(), transport_, clock_, sleeper_);
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5; ++i) {
        // Every intent twice: the repeat must return the same machine.
        std::string name = "c-" + std::to_string(t) + "-" + std::to_string(i);
        auto a = p.create(intent(name));
        auto b = p.create(intent(name));
        if (a.ok() && b.ok() && a->provider_id == b->provider_id) ++ok;
      }
    });
  }
  for (auto& th : threads)
    th.join();
  EXPECT_EQ(ok.load(), 20);
  EXPECT_EQ(emulator_.instances().size(), 20u);
}

TEST_F(Ec2ProviderTest, NoCapacityIsReportedAtOnceWithoutRetries) {
  Ec2Provider p(config(), transport_, clock_, sleeper_);
  emulator_.set_capacity("g6e.xlarge", 0);
  auto m = p.create(intent());
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().kind, ProviderErrorKind::NoCapacity);
  EXPECT_NE(m.error().message.find("InsufficientInstanceCapacity"), std::string::npos);
  EXPECT_EQ(emulator_.requests("RunInstances"), 1);
  emulator_.set_capacity("g6e.xlarge", 1);
  ASSERT_TRUE(p.create(intent()).ok());
  emulator_.faults().add("RunInstances", Fault{FaultKind::NoCapacity});
  EXPECT_EQ(p.create(intent("pool-a-1")).error().kind, ProviderErrorKind::NoCapacity);
}

// Failover (issue 12): an intent refused NoCapacity on one type may move to
// another type before any machine exists; the retry there has its own
// ClientToken, so it is bought, not refused as a parameter mismatch.
TEST_F(Ec2ProviderTest, AnIntentMovedToAnotherTypeAfterNoCapacityHasItsOwnToken) {
  Ec2Provider p(config(), transport_, clock_, sleeper_);
  emulator_.set_capacity("g6e.xlarge", 0);
  ASSERT_EQ(p.create(intent()).error().kind, ProviderErrorKind::NoCapacity);
  auto moved = p.create(intent("pool-a-0", "g6e.12xlarge"));
  ASSERT_TRUE(moved.ok()) << describe(moved.error());
  ASSERT_EQ(emulator_.instances().size(), 1u);
  EXPECT_EQ(emulator_.instances()[0].client_token,
            client_token("uid-1234", "pool-a-0", "g6e.12xlarge"));
  EXPECT_NE(client_token("uid-1234", "pool-a-0", "g6e.12xlarge"),
            client_token("uid-1234", "pool-a-0", "g6e.xlarge"));
  // Repeating the moved create is still the same request: no second machine.
  auto again = p.create(intent("pool-a-0", "g6e.12xlarge"));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->provider_id, moved->provider_id);
  EXPECT_EQ(emulator_.instances().size(), 1u);
  EXPECT_EQ(p.get("uid-1234", "pool-a-0")->provider_id, moved->provider_id);
}

TEST_F(Ec2ProviderTest, QuotaExceeded) {
  Ec2Provider p(config(), transport_, clock_, sleeper_);
  emulator_.set_instance_limit(0);
  auto m = p.create(intent());
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().kind, ProviderErrorKind::QuotaExceeded);
}

TEST_F(Ec2ProviderTest, ThrottlingIsRetriedWithBackoffAndRecovers) {
  Ec2Provider p(config(), transport_, clock_, sleeper_);
  emulator_.faults().add("RunInstances", Fault{FaultKind::Throttle}, 2);
  auto m = p.create(intent());
  ASSERT_TRUE(m.ok()) << describe(m.error());
  EXPECT_EQ(emulator_.requests("RunInstances"), 3);
  EXPECT_EQ(sleeper_.waits().size(), 2u);
  EXPECT_GT(sleeper_.waits()[1], sleeper_.waits()[0] / 2);

  emulator_.faults().add("DescribeInstances", Fault{FaultKind::Throttle}, 5);
  auto got = p.get("uid-1234", "pool-a-0");
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().kind, ProviderErrorKind::RateLimited);
  EXPECT_GT(got.error().retry_after.count(), 0);
  EXPECT_EQ(emulator_.requests("DescribeInstances"), 3);  // max_attempts, then reported
  emulator_.faults().clear();
  EXPECT_TRUE(p.get("uid-1234", "pool-a-0").ok());
}

TEST_F(Ec2ProviderTest, SlowAnswersTimeOutAndAreRetried) {
  Ec2Provider p(config(), short_transport_, clock_, sleeper_);
  // Slower than the client's 700 ms budget: the first attempt times out, the
  // retry is answered at once.
  emulator_.faults().add("DescribeInstanceTypeOfferings",
                         Fault{FaultKind::Slow, std::chrono::milliseconds(5000)});
  auto offers = p.offers({});
  ASSERT_TRUE(offers.ok()) << describe(offers.error());
  EXPECT_EQ(emulator_.requests("DescribeInstanceTypeOfferings"), 2);
  // Slow but within budget: one attempt.
  emulator_.faults().add("DescribeInstanceTypeOfferings",
                         Fault{FaultKind::Slow, std::chrono::milliseconds(50)});
  EXPECT_TRUE(p.offers({}).ok());
  EXPECT_EQ(emulator_.requests("DescribeInstanceTypeOfferings"), 3);
}

TEST_F(Ec2ProviderTest, ServerErrorsAreRetried) {
  Ec2Provider p(config(), transport_, clock_, sleeper_);
  emulator_.faults().add("DescribeInstanceTypeOfferings", Fault{FaultKind::ServerError}, 2);
  EXPECT_TRUE(p.offers({}).ok());
  EXPECT_EQ(emulator_.requests("DescribeInstanceTypeOfferings"), 3);
  emulator_.faults().add("DescribeInstanceTypeOfferings", Fault{FaultKind::ServerError}, 3);
  auto r = p.offers({});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ProviderErrorKind::Transient);
}

TEST_F(Ec2ProviderTest, WrongSecretIsUnauthorizedWithoutRetryStormOrLeak) {
  Ec2Config c = config();
  c.credentials.secret_access_key = "wrong-secret-value";
  Ec2Provider p(c, transport_, clock_, sleeper_);
  auto m = p.create(intent());
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().kind, ProviderErrorKind::Unauthorized);
  EXPECT_NE(m.error().message.find("AuthFailure"), std::string::npos);
  EXPECT_EQ(m.error().message.find("wrong-secret-value"), std::string::npos);
  EXPECT_EQ(emulator_.requests("RunInstances"), 1);
  EXPECT_EQ(p.requests_sent(), 1);
  EXPECT_TRUE(emulator_.instances().empty());
  for (const auto& line : log_) {
    EXPECT_EQ(line.find("wrong-secret-value"), std::string::npos);
    EXPECT_EQ(line.find("Signature="), std::string::npos) << line;
    EXPECT_EQ(line.find("join --token"), std::string::npos) << line;  // user data is redacted
  }
  EXPECT_FALSE(log_.empty());

  Ec2Config none = config();
  none.credentials = {};
  Ec2Provider q(none, transport_, clock_, sleeper_);
  EXPECT_EQ(q.offers({}).error().kind, ProviderErrorKind::Unauthorized);
  EXPECT_EQ(q.requests_sent(), 0);
}

TEST_F(Ec2ProviderTest, SessionTokenIsSignedAndAccepted) {
  Ec2Config c = config();
  c.credentials.session_token = "FwoGZXIvYXdzEXAMPLE";
  Ec2Provider p(c, transport_, clock_, sleeper_);
  EXPECT_TRUE(p.offers({}).ok());
  for (const auto& line : log_)
    EXPECT_EQ(line.find("FwoGZXIvYXdzEXAMPLE"), std::string::npos);
}

TEST_F(Ec2ProviderTest, StaleSignatureIsRejected) {
  Ec2Provider p(config(), transport_, clock_, sleeper_);
  emulators::Ec2EmulatorOptions o;
  FakeClock later(clock_.now() + seconds(3600));
  o.clock = &later;
  emulators::Ec2Emulator skewed(o);
  ASSERT_TRUE(skewed.start());
  Ec2Config c = config();
  c.endpoint = skewed.base_url();
  Ec2Provider q(c, transport_, clock_, sleeper_);
  auto r = q.offers({});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ProviderErrorKind::Unauthorized);
  EXPECT_NE(r.error().message.find("expired"), std::string::npos);
}

TEST_F(Ec2ProviderTest, GarbledAnswersBecomeKnownErrorKinds) {
  Ec2Provider p(config(), transport_, clock_, sleeper_);
  emulator_.faults().add("DescribeInstances", Fault{FaultKind::Garbled});
  auto g = p.get("uid-1234", "x");
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.error().kind, ProviderErrorKind::Transient);
  EXPECT_NE(g.error().message.find("unreadable"), std::string::npos);

  emulator_.faults().add("RunInstances", Fault{FaultKind::GarbledError}, 3);
  auto c = p.create(intent());
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().kind, ProviderErrorKind::Transient);
  EXPECT_NE(c.error().message.find("unreadable error answer"), std::string::npos);
  EXPECT_TRUE(emulator_.instances().empty());

  emulator_.faults().add("RunInstances", Fault{FaultKind::Garbled});
  EXPECT_EQ(p.create(intent()).error().kind, ProviderErrorKind::Transient);
  auto ok = p.create(intent());  // the caller's next attempt succeeds
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(emulator_.instances().size(), 1u);
}

TEST_F(Ec2ProviderTest, BadConfigurationIsAClearError) {
  Ec2Config c = config();
  c.endpoint = "not a url";
  Ec2Provider p(c, transport_, clock_, sleeper_);
  EXPECT_EQ(p.offers({}).error().kind, ProviderErrorKind::InvalidRequest);
  Ec2Config noimage = config();
  noimage.image_id.clear();
  Ec2Provider q(noimage, transport_, clock_, sleeper_);
  auto r = q.create(intent());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ProviderErrorKind::InvalidRequest);
  EXPECT_NE(r.error().message.find("AMI"), std::string::npos);
  EXPECT_EQ(q.terminate("").error().kind, ProviderErrorKind::InvalidRequest);
}

TEST(Ec2Offers, FallBackToTheG6eTableWhenDescribeInstanceTypesIsRefused) {
  FakeClock clock(Time(std::chrono::sys_days(std::chrono::year(2026) / 1 / 5)));
  net::FakeSleeper sleeper(&clock);
  net::FakeTransport transport;
  transport.set_handler([](const net::Request& r) -> net::TransportResult {
    if (r.body.find("Action=DescribeInstanceTypeOfferings") != std::string::npos) {
      return net::make_response(
          200,
          "<DescribeInstanceTypeOfferingsResponse><instanceTypeOfferingSet><item>"
          "<instanceType>g6e.12xlarge</instanceType><location>us-east-1</location></item>"
          "</instanceTypeOfferingSet></DescribeInstanceTypeOfferingsResponse>");
    }
    return net::make_response(
        400,
        "<Response><Errors><Error><Code>InvalidAction</Code><Message>no</Message></Error>"
        "</Errors><RequestID>1</RequestID></Response>");
  });
  Ec2Config c;
  c.endpoint = "https://gateway.example/";
  c.credentials = {"AKID", "secret", ""};
  c.prices = {{"g6e.12xlarge", Money::parse("10.4926").value()}};
  Ec2Provider p(c, transport, clock, sleeper);
  auto offers = p.offers({});
  ASSERT_TRUE(offers.ok()) << describe(offers.error());
  ASSERT_EQ(offers->size(), 1u);
  EXPECT_EQ(offers->at(0).gpu_count, 4);
  EXPECT_EQ(offers->at(0).gpu_model, "L40S");
  // Every request is signed for the configured region and service.
  for (const auto& r : transport.requests()) {
    EXPECT_NE(std::string(net::find_header(r.headers, "Authorization"))
                  .find("/us-east-1/ec2/aws4_request"),
              std::string::npos);
  }
}

TEST(Ec2Errors, CodesMapToKinds) {
  auto k = [](int status, const char* code) {
    return map_ec2_error(status, code, "m", net::Millis(0)).kind;
  };
  EXPECT_EQ(k(500, "InsufficientInstanceCapacity"), ProviderErrorKind::NoCapacity);
  EXPECT_EQ(k(503, "RequestLimitExceeded"), ProviderErrorKind::RateLimited);
  EXPECT_EQ(k(401, "AuthFailure"), ProviderErrorKind::Unauthorized);
  EXPECT_EQ(k(403, "UnauthorizedOperation"), ProviderErrorKind::Unauthorized);
  EXPECT_EQ(k(400, "InstanceLimitExceeded"), ProviderErrorKind::QuotaExceeded);
  EXPECT_EQ(k(400, "VcpuLimitExceeded"), ProviderErrorKind::QuotaExceeded);
  EXPECT_EQ(k(400, "InvalidParameterValue"), ProviderErrorKind::InvalidRequest);
  EXPECT_EQ(k(400, "InvalidParameterCombination"), ProviderErrorKind::InvalidRequest);
  EXPECT_EQ(k(400, "InvalidInstanceID.NotFound"), ProviderErrorKind::NotFound);
  EXPECT_EQ(k(500, "InternalError"), ProviderErrorKind::Transient);
  EXPECT_EQ(k(502, "SomethingNew"), ProviderErrorKind::Transient);
  EXPECT_EQ(k(400, "SomethingNew"), ProviderErrorKind::InvalidRequest);
  EXPECT_GT(map_ec2_error(503, "RequestLimitExceeded", "", net::Millis(0)).retry_after.count(), 0);
}

}  // namespace
// Found by fuzz_provider_aws: list() trusted EC2's tag filters, so an answer
// holding a machine without this pool's tags was reported as the pool's (to
// be adopted or ended by mistake).
TEST(Ec2List, KeepsOnlyMachinesTaggedForThePoolWhateverEc2Sends) {
  FakeClock clock(Time(std::chrono::sys_days(std::chrono::year(2026) / 1 / 5)));
  net::FakeSleeper sleeper(&clock);
  net::FakeTransport transport;
  auto item = [](const std::string& id, const std::string& uid_key) {
    return "<item><instanceId>" + id +
           "</instanceId><instanceType>g6e.xlarge</instanceType><instanceState><name>running"
           "</name></instanceState><tagSet><item><key>" +
           uid_key +
           "</key><value>uid-1</value></item><item><key>gpupool.io/instance</key><value>a"
           "</value></item><item><key>gpupool.io/managed-by</key><value>gpupool-operator"
           "</value></item></tagSet></item>";
  };
  transport.push(net::make_response(
      200, "<DescribeInstancesResponse><reservationSet><item><instancesSet>" +
               item("i-ours", "gpupool.io/pool-uid") + item("i-other", "gpupool.iopol-/uoid") +
               "</instancesSet></item></reservationSet></DescribeInstancesResponse>"));
  Ec2Config c;
  c.endpoint = "https://gateway.example/";
  c.credentials = {"AKID", "secret", ""};
  Ec2Provider p(c, transport, clock, sleeper);
  auto ms = p.list(MachineFilter{"uid-1", false});
  ASSERT_TRUE(ms.ok()) << describe(ms.error());
  ASSERT_EQ(ms->size(), 1u);
  EXPECT_EQ(ms->at(0).provider_id, "i-ours");
}

// Found by fuzz_provider_aws: an answer whose nextToken never changes made
// list() and offers() page forever.
TEST(Ec2List, ARepeatedNextTokenEndsTheListingWithATransientError) {
  FakeClock clock(Time(std::chrono::sys_days(std::chrono::year(2026) / 1 / 5)));
  net::FakeSleeper sleeper(&clock);
  net::FakeTransport transport;
  transport.set_handler([](const net::Request&) -> net::TransportResult {
    return net::make_response(200,
                              "<DescribeInstancesResponse><reservationSet/><nextToken>same"
                              "</nextToken></DescribeInstancesResponse>");
  });
  Ec2Config c;
  c.endpoint = "https://gateway.example/";
  c.credentials = {"AKID", "secret", ""};
  c.prices = {{"g6e.xlarge", Money::parse("1.861").value()}};
  Ec2Provider p(c, transport, clock, sleeper);
  auto ms = p.list(MachineFilter{"uid-1", false});
  ASSERT_FALSE(ms.ok());
  EXPECT_EQ(ms.error().kind, ProviderErrorKind::Transient);
  EXPECT_LE(transport.request_count(), 3u);
  auto offers = p.offers({});
  ASSERT_FALSE(offers.ok());
  EXPECT_EQ(offers.error().kind, ProviderErrorKind::Transient);
}

}  // namespace gpupool::aws
