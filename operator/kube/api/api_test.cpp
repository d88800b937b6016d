#include "operator/kube/api/api.h"

#include <gtest/gtest.h>

namespace gpupool::kube {
namespace {

const Resource kPools{"gpupool.io", "v1alpha1", "gpupools", "GpuPool", true};

TEST(ResourceTest, NamesCoreAndGroupResources) {
  EXPECT_EQ(resources::kPods.api_version(), "v1");
  EXPECT_EQ(resources::kPods.group_resource(), "pods");
  EXPECT_EQ(kPools.api_version(), "gpupool.io/v1alpha1");
  EXPECT_EQ(kPools.group_resource(), "gpupools.gpupool.io");
}

TEST(ApiErrorTest, NotFoundMatchesRealServerStatus) {
  Json j = to_status_json(make_not_found(kPools, "pool-a"));
  EXPECT_EQ(j, Json::parse(R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
    "message":"gpupools.gpupool.io \"pool-a\" not found","reason":"NotFound",
    "details":{"name":"pool-a","group":"gpupool.io","kind":"gpupools"},"code":404})"));
}

TEST(ApiErrorTest, InvalidJoinsCausesLikeTheServer) {
  ApiError e = make_invalid("GpuPool.gpupool.io", "pool-a",
                            {{"FieldValueRequired", "Required value", "spec.size"},
                             {"FieldValueInvalid", "Invalid value: 65: too big", "spec.max"}});
  EXPECT_EQ(e.kind, ErrorKind::Invalid);
  EXPECT_EQ(e.code, 422);
  EXPECT_EQ(e.message,
            "GpuPool.gpupool.io \"pool-a\" is invalid: [spec.size: Required value, spec.max: "
            "Invalid value: 65: too big]");
  EXPECT_EQ(e.details_kind, "GpuPool");
  EXPECT_EQ(e.group, "gpupool.io");
  ApiError one = make_invalid("GpuPool.gpupool.io", "p",
                              {{"FieldValueRequired", "Required value", "spec.size"}});
  EXPECT_EQ(one.message, "GpuPool.gpupool.io \"p\" is invalid: spec.size: Required value");
}

TEST(ApiErrorTest, StatusJsonRoundTrips) {
  ApiError e = make_conflict(kPools, "p", "the object has been modified");
  e.uid = "u1";
  e.retry_after_seconds = 3;
  e.causes = {{"FieldManagerConflict", "conflict with \"kubectl\"", ".spec.size"}};
  ApiError back = from_status_json(to_status_json(e), 0);
  EXPECT_EQ(back.kind, ErrorKind::Conflict);
  EXPECT_EQ(back.code, 409);
  EXPECT_EQ(back.reason, "Conflict");
  EXPECT_EQ(back.message, e.message);
  EXPECT_EQ(back.name, "p");
  EXPECT_EQ(back.group, "gpupool.io");
  EXPECT_EQ(back.details_kind, "gpupools");
  EXPECT_EQ(back.uid, "u1");
  EXPECT_EQ(back.retry_after_seconds, 3);
  EXPECT_EQ(back.causes, e.causes);
}

TEST(ApiErrorTest, KindFromReasonThenCode) {
  EXPECT_EQ(error_kind_for(409, "AlreadyExists"), ErrorKind::AlreadyExists);
  EXPECT_EQ(error_kind_for(409, ""), ErrorKind::Conflict);
  EXPECT_EQ(error_kind_for(410, "Expired"), ErrorKind::Gone);
  EXPECT_EQ(error_kind_for(410, "Gone"), ErrorKind::Gone);
  EXPECT_EQ(error_kind_for(503, ""), ErrorKind::Unavailable);
  EXPECT_EQ(error_kind_for(500, "ServerTimeout"), ErrorKind::Timeout);
  EXPECT_EQ(error_kind_for(418, ""), ErrorKind::Internal);
}

TEST(ApiErrorTest, NonStatusBodyUsesHttpCode) {
  ApiError e = from_status_json(Json("<html>bad gateway</html>"), 502);
  EXPECT_EQ(e.kind, ErrorKind::Unavailable);
  EXPECT_EQ(e.code, 502);
  EXPECT_NE(e.message.find("bad gateway"), std::string::npos);
  ApiError t = from_status_json(Json::parse(R"({"kind":"Status","code":"x"})"), 429);
  EXPECT_EQ(t.kind, ErrorKind::TooManyRequests);
}

// Found by fuzz_watch_decoder: a Status whose code was not an HTTP status
// (809, -5, 2^40) was kept as it was (truncated to int for the large one).
TEST(ApiErrorTest, AStatusCodeThatIsNoHttpStatusFallsBackToTheAnswers) {
  for (const char* code : {"809", "-5", "1099511627776", "0", "42", "600"}) {
    const ApiError e = from_status_json(
        Json::parse(std::string(R"({"kind":"Status","reason":"Conflict","code":)") + code + "}"),
        409);
    EXPECT_EQ(e.code, 409) << code;
    EXPECT_EQ(e.kind, ErrorKind::Conflict) << code;
  }
  EXPECT_EQ(from_status_json(Json::parse(R"({"kind":"Status","code":404})"), 500).code, 404);
}

TEST(ApiErrorTest, WatchExpiredEventParses) {
  Json status = Json::parse(R"J({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
    "message":"too old resource version: 5 (99)","reason":"Expired","code":410})J");
  ApiError e = from_status_json(status, 200);
  EXPECT_EQ(e.kind, ErrorKind::Gone);
  EXPECT_EQ(to_status_json(e), status);
}

TEST(EnumsTest, StringsMatchTheWire) {
  EXPECT_EQ(content_type(PatchType::Merge), "application/merge-patch+json");
  EXPECT_EQ(content_type(PatchType::JsonPatch), "application/json-patch+json");
  EXPECT_EQ(content_type(PatchType::StrategicMerge), "application/strategic-merge-patch+json");
  EXPECT_EQ(content_type(PatchType::Apply), "application/apply-patch+yaml");
  EXPECT_EQ(to_string(FieldValidation::Warn), "Warn");
  for (auto t : {WatchEventType::Added, WatchEventType::Modified, WatchEventType::Deleted,
                 WatchEventType::Bookmark, WatchEventType::Error}) {
    EXPECT_EQ(parse_watch_event_type(to_string(t)), t);
  }
  EXPECT_FALSE(parse_watch_event_type("added").has_value());
}

}  // namespace
}  // namespace gpupool::kube
