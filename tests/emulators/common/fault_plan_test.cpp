#include "tests/emulators/common/fault_plan.h"

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

}  // namespace
}  // namespace gpupool::emulators
