#include "tests/emulators/common/fault_plan.h"
#include "tests/emulators/common/emulator_base.h"

#include <gtest/gtest.h>

namespace gpupool::emulators {
namespace {

TEST(FaultPlan, SpecificQueueFirstThenAnyAndConsumed) {
  FaultPlan p;
  EXPECT_FALSE(p.take("create"));
  p.add("", Fault{FaultKind::ServerError});
  p.add("create", Fault{FaultKind::NoCapacity}, 2);
  EXPECT_EQ(p.pending(), 3u);
  EXPECT_EQ(p.take("create")->kind, FaultKind::NoCapacity);
  EXPECT_EQ(p.take("list")->kind, FaultKind::ServerError);
  EXPECT_EQ(p.take("create")->kind, FaultKind::NoCapacity);
  EXPECT_FALSE(p.take("create"));
  p.add("x", Fault{FaultKind::Slow});
  p.clear();
  EXPECT_EQ(p.pending(), 0u);
}

TEST(FaultPlan, ParsesAdminFaultJson) {
  std::string op;
  Fault f;
  int times = 0;
  EXPECT_EQ(parse_fault_json(
                R"({"operation":"create","kind":"Throttle","times":3,"retryAfterSeconds":7})", op,
                f, times),
            "");
  EXPECT_EQ(op, "create");
  EXPECT_EQ(f.kind, FaultKind::Throttle);
  EXPECT_EQ(times, 3);
  EXPECT_EQ(f.retry_after, std::chrono::seconds(7));
  EXPECT_EQ(parse_fault_json(R"({"kind":"Slow","delayMs":250})", op, f, times), "");
  EXPECT_EQ(op, "");
  EXPECT_EQ(f.delay, std::chrono::milliseconds(250));
  EXPECT_EQ(times, 1);
  EXPECT_NE(parse_fault_json("not json", op, f, times), "");
  EXPECT_NE(parse_fault_json(R"({"kind":"Boom"})", op, f, times), "");
  EXPECT_NE(parse_fault_json(R"({"kind":"Slow","times":0})", op, f, times), "");
  EXPECT_NE(parse_fault_json(R"({"kind":"Slow","delayMs":"x"})", op, f, times), "");
}

}  // namespace
}  // namespace gpupool::emulators

namespace gpupool::emulators {
namespace {

TEST(EmulatorToInt, ReadsUpToSixDigitsElseTheFallback) {
  EXPECT_EQ(to_int("25", 7), 25);
  EXPECT_EQ(to_int("000010", 7), 10);
  EXPECT_EQ(to_int("", 7), 7);
  EXPECT_EQ(to_int("-1", 7), 7);
  EXPECT_EQ(to_int("1234567", 7), 7);
  EXPECT_EQ(to_int("12a", 7), 7);
}

TEST(ProviderFaultReplies, EachFaultKindGetsTheProvidersOwnReply) {
  ProviderFaultReplies r{
      .no_capacity = {400, "sold out"},
      .throttle = {429, "slow down"},
      .server_error = {500, "oops"},
      .auth_failure = {401, "who"},
      .garbled = {200, "{\"da"},
  };
  EXPECT_EQ(answer_fault(r, Fault{FaultKind::NoCapacity}).body, "sold out");
  EXPECT_EQ(answer_fault(r, Fault{FaultKind::ServerError}).status, 500);
  EXPECT_EQ(answer_fault(r, Fault{FaultKind::AuthFailure}).body, "who");
  EXPECT_EQ(answer_fault(r, Fault{FaultKind::Garbled}).body, "{\"da");

  // Retry-After only when the fault asks for one.
  Reply plain = answer_fault(r, Fault{FaultKind::Throttle});
  EXPECT_EQ(plain.status, 429);
  EXPECT_TRUE(plain.headers.empty());
  Reply timed =
      answer_fault(r, Fault{.kind = FaultKind::Throttle, .retry_after = std::chrono::seconds(7)});
  ASSERT_EQ(timed.headers.size(), 1u);
  EXPECT_EQ(timed.headers[0], (std::pair<std::string, std::string>{"Retry-After", "7"}));

  // A provider's own throttling headers replace Retry-After; none at all
  // where the provider says nothing of when to come back.
  r.throttle_headers = [](std::chrono::seconds s) {
    return std::vector<std::pair<std::string, std::string>>{
        {"ratelimit-reset", std::to_string(100 + s.count())}};
  };
  timed =
      answer_fault(r, Fault{.kind = FaultKind::Throttle, .retry_after = std::chrono::seconds(7)});
  ASSERT_EQ(timed.headers.size(), 1u);
  EXPECT_EQ(timed.headers[0].second, "107");
  r.throttle_headers = nullptr;
  EXPECT_TRUE(
      answer_fault(r, Fault{.kind = FaultKind::Throttle, .retry_after = std::chrono::seconds(7)})
          .headers.empty());
}

TEST(EmulatorRoutes, FirstRuleForTheMethodAndPathNamesTheOperation) {
  auto op = [](std::string method, std::string path) {
    http::HttpRequest req;
    req.method = std::move(method);
    req.path = std::move(path);
    return operation_of(req, {{"GET", "/v2/pods", "list"},
                              {"POST", "/v2/pods", "create"},
                              {"DELETE", "/v2/pods/", "delete", kUnder}});
  };
  EXPECT_EQ(op("GET", "/v2/pods"), "list");
  EXPECT_EQ(op("POST", "/v2/pods"), "create");
  EXPECT_EQ(op("DELETE", "/v2/pods/p-1"), "delete");
  EXPECT_EQ(op("DELETE", "/v2/pods"), "");   // "under" takes only paths below it
  EXPECT_EQ(op("GET", "/v2/pods/p-1"), "");  // exact rules take only their path
  EXPECT_EQ(op("PUT", "/v2/pods"), "");      // nor another method
}

}  // namespace
}  // namespace gpupool::emulators
