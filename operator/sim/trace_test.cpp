#include "operator/sim/trace.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace gpupool::sim {
namespace {

using ::testing::HasSubstr;

TraceError error_of(std::string_view text) {
  auto t = parse_trace(text);
  EXPECT_FALSE(t.ok()) << text;
  return t.ok() ? TraceError{} : t.error();
}

TEST(TraceTest, StepFunctionHoldsEachValueUntilTheNextRow) {
  auto t = parse_trace("time_s,gpus\n0,2\n600,5.5\n# a comment\n\n1800,0\n3600,1\n");
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->steps.size(), 4u);
  EXPECT_EQ(t->end_s(), 3600);
  EXPECT_EQ(t->at(0), 2);
  EXPECT_EQ(t->at(599), 2);
  EXPECT_EQ(t->at(600), 5.5);
  EXPECT_EQ(t->at(1800), 0);
  EXPECT_EQ(t->at(3600), 0);  // the last row ends the run
  EXPECT_EQ(t->next_change_after(0), 600);
  EXPECT_EQ(t->next_change_after(600), 1800);
  EXPECT_EQ(t->next_change_after(1800), 3600);
  // 2 GPUs x 600 s + 5.5 x 1200 s = 7800 GPU-s.
  EXPECT_DOUBLE_EQ(t->demanded_gpu_hours(), 7800.0 / 3600.0);
  EXPECT_EQ(t->peak(), 5.5);
}

TEST(TraceTest, AcceptsSpacesCrlfAndAByteOrderMark) {
  auto t = parse_trace("\xEF\xBB\xBFtime_s , gpus\r\n0, 1\r\n60 ,2\r\n");
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->at(0), 1);
}

TEST(TraceTest, ErrorsNameTheLine) {
  EXPECT_EQ(error_of("time,gpus\n0,1\n").line, 1);
  EXPECT_THAT(error_of("time,gpus\n0,1\n").message, HasSubstr("time_s,gpus"));

  const TraceError back = error_of("time_s,gpus\n0,1\n60,2\n30,3\n90,0\n");
  EXPECT_EQ(back.line, 4);
  EXPECT_THAT(back.message, HasSubstr("not after the previous row's time 60"));
  EXPECT_EQ(back.to_string("day.csv"), "day.csv:4: " + back.message);

  const TraceError same = error_of("time_s,gpus\n0,1\n60,2\n60,3\n");
  EXPECT_EQ(same.line, 4);

  const TraceError negative = error_of("time_s,gpus\n0,1\n\n60,-2\n120,0\n");
  EXPECT_EQ(negative.line, 4);
  EXPECT_THAT(negative.message, HasSubstr("negative"));

  EXPECT_EQ(error_of("time_s,gpus\n0,1\n60,lots\n").line, 3);
  EXPECT_THAT(error_of("time_s,gpus\n0,1\n60,lots\n").message, HasSubstr("gpus \"lots\""));
  EXPECT_EQ(error_of("time_s,gpus\n0,1\nsoon,1\n").line, 3);
  EXPECT_EQ(error_of("time_s,gpus\n0,1\n60,1,2\n").line, 3);
  EXPECT_EQ(error_of("time_s,gpus\n0,nan\n60,1\n").line, 2);
  EXPECT_EQ(error_of("time_s,gpus\n5,1\n60,1\n").line, 2);
  EXPECT_THAT(error_of("time_s,gpus\n0,1\n").message, HasSubstr("at least two rows"));
  EXPECT_EQ(error_of("").line, 0);
}

}  // namespace
}  // namespace gpupool::sim
