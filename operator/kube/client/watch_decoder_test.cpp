#include "operator/kube/client/watch_decoder.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace gpupool::kube {
namespace {

const Resource kPools{"gpupool.io", "v1alpha1", "gpupools", "GpuPool", true};

std::vector<WatchEvent> decode_all(std::string_view body) {
  WatchDecoder d(kPools);
  d.feed(body);
  d.finish();
  return d.take_events();
}

TEST(WatchDecoder, EventsSplitAcrossChunksDecodeInOrderWithTypeFilledIn) {
  const std::string body =
      "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\"}}}\r\n"
      "\n"
      "{\"type\":\"MODIFIED\",\"object\":{\"kind\":\"X\",\"metadata\":{\"name\":\"b\"}}}\n"
      "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"7\"}}}";
  WatchDecoder d(kPools);
  for (char c : body)
    d.feed(std::string_view(&c, 1));
  EXPECT_EQ(d.take_events().size(), 2u);
  EXPECT_GT(d.buffered(), 0u);
  d.finish();
  const auto last = d.take_events();
  ASSERT_EQ(last.size(), 1u);
  EXPECT_EQ(last[0].type, WatchEventType::Bookmark);

  const auto events = decode_all(body);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].object["apiVersion"], "gpupool.io/v1alpha1");
  EXPECT_EQ(events[0].object["kind"], "GpuPool");
  EXPECT_EQ(events[1].object["kind"], "X");
  EXPECT_FALSE(d.garbled());
}

TEST(WatchDecoder, AGarbledLineEndsTheStreamWithOneErrorEvent) {
  WatchDecoder d(kPools);
  d.feed("{\"type\":\"ADDED\",\"object\":{}}\nnot json\n{\"type\":\"ADDED\",\"object\":{}}\n");
  EXPECT_TRUE(d.garbled());
  EXPECT_TRUE(d.finished());
  const auto events = d.take_events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].type, WatchEventType::Error);
  ASSERT_TRUE(events[1].error.has_value());
  EXPECT_NE(events[1].error->message.find("not JSON"), std::string::npos);
  d.feed("{\"type\":\"ADDED\",\"object\":{}}\n");
  EXPECT_TRUE(d.take_events().empty());
}

TEST(WatchDecoder, UnknownTypesAndEventsWithoutObjectsAreErrors) {
  for (const char* line : {"{\"type\":\"CREATED\",\"object\":{}}", "{\"type\":\"ADDED\"}",
                           "{\"type\":1,\"object\":{}}", "[1,2]", "{\"object\":{}}"}) {
    const auto events = decode_all(line);
    ASSERT_EQ(events.size(), 1u) << line;
    EXPECT_EQ(events[0].type, WatchEventType::Error) << line;
  }
}

// Found while writing fuzz_watch_decoder (the decoder was inside the curl
// callbacks before and could not be fuzzed): an ERROR event whose
// Status has a non-integer "code" threw nlohmann::type_error out of a libcurl
// callback (a string) or converted an out-of-range double to int (UB).
TEST(WatchDecoder, AnErrorStatusWithABadCodeIsA500NotACrash) {
  for (const char* code : {"\"410\"", "1e300", "-5", "true", "null", "4.1e2", "99999999999"}) {
    const std::string line = std::string("{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",") +
                             "\"reason\":\"Expired\",\"code\":" + code + "}}\n";
    const auto events = decode_all(line);
    ASSERT_EQ(events.size(), 1u) << code;
    EXPECT_EQ(events[0].type, WatchEventType::Error);
    ASSERT_TRUE(events[0].error.has_value());
  }
  const auto gone = decode_all(
      "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"reason\":\"Expired\",\"code\":410}}");
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(gone[0].error->code, 410);
  EXPECT_EQ(gone[0].error->kind, ErrorKind::Gone);
}

}  // namespace
}  // namespace gpupool::kube
