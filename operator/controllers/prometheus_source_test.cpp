#include "operator/controllers/prometheus_source.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>

#include "providers/http/fake_transport.h"

namespace gpupool::controllers {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

const Time kNow = Time{std::chrono::seconds{1'795'000'000}};

class PrometheusSourceTest : public ::testing::Test {
 protected:
  autoscale::Signal answer(int status, std::string body) {
    transport_.push(net::make_response(status, std::move(body)));
    return source_.query("sum(queue_depth{pool=\"web\"})", kNow);
  }
  net::FakeTransport transport_;
  PrometheusSource source_{transport_, "http://127.0.0.1:9090/"};
};

TEST_F(PrometheusSourceTest, AOneElementVectorIsTheValue) {
  const auto s = answer(200, R"({"status":"success","data":{"resultType":"vector","result":[
      {"metric":{},"value":[1795000000,"37.5"]}]}})");
  ASSERT_TRUE(s.value) << s.error;
  EXPECT_DOUBLE_EQ(*s.value, 37.5);
  ASSERT_EQ(transport_.requests().size(), 1u);
  EXPECT_EQ(transport_.requests()[0].url,
            "http://127.0.0.1:9090/api/v1/query?query=sum%28queue_depth%7Bpool%3D%22web%22%7D%29"
            "&time=1795000000");
}

TEST_F(PrometheusSourceTest, AScalarIsTheValue) {
  const auto s =
      answer(200, R"({"status":"success","data":{"resultType":"scalar","result":[1,"4"]}})");
  ASSERT_TRUE(s.value) << s.error;
  EXPECT_DOUBLE_EQ(*s.value, 4);
}

TEST_F(PrometheusSourceTest, EverythingElseIsAClearError) {
  struct Case {
    int status;
    const char* body;
    const char* says;
  };
  for (const Case& c : std::initializer_list<Case>{
           {200, R"({"status":"success","data":{"resultType":"vector","result":[]}})",
            "returned no series"},
           {200,
            R"({"status":"success","data":{"resultType":"vector","result":[
              {"value":[1,"1"]},{"value":[1,"2"]}]}})",
            "returned 2 series; aggregate it"},
           {200, R"({"status":"success","data":{"resultType":"matrix","result":[]}})",
            "returned a matrix result"},
           {400, R"({"status":"error","errorType":"bad_data","error":"parse error at char 4"})",
            "bad_data: parse error at char 4"},
           {200, "<html>proxy error</html>", "unreadable answer"},
           {200, R"({"status":"success","data":{"resultType":"scalar","result":[1,"NaN"]}})",
            "value is NaN"},
           {200, R"({"status":"success","data":{"resultType":"scalar","result":[1,"-3"]}})",
            "is negative"},
           {200, R"({"status":"success","data":{"resultType":"scalar","result":[1, 3]}})",
            "unreadable answer"},
           {200, R"({"status":"success"})", "unreadable answer"},
       }) {
    const auto s = answer(c.status, c.body);
    EXPECT_FALSE(s.value) << c.body;
    EXPECT_THAT(s.error, HasSubstr(c.says)) << c.body;
    EXPECT_THAT(s.error, HasSubstr("Prometheus at http://127.0.0.1:9090")) << c.body;
  }
}

TEST_F(PrometheusSourceTest, PrometheusDownIsAnErrorNotZero) {
  transport_.push_error(net::TransportErrorKind::Connect, "connection refused");
  const auto s = source_.query("up", kNow);
  EXPECT_FALSE(s.value);
  EXPECT_THAT(s.error, HasSubstr("connection refused"));
}

}  // namespace
}  // namespace gpupool::controllers
