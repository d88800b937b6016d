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

}  // namespace
}  // namespace gpupool::emulators
