// Fuzz target: the watch stream decoder (operator/kube/client/watch_decoder.h)
// that turns a watch response body into events.
//
// Input: the first byte seeds where the body is cut into chunks (the network
// cuts it anywhere); the rest is the body.
// Invariants: no crash or exception; decoding in chunks gives exactly the
// events of decoding in one piece; every non-Error event carries an object
// with apiVersion and kind; every Error event carries a parsed error with an
// HTTP status code.
#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "fuzz/fuzz_check.h"
#include "operator/kube/client/watch_decoder.h"

using namespace gpupool;

namespace {

const kube::Resource kPools{"gpupool.io", "v1alpha1", "gpupools", "GpuPool", true};

std::vector<kube::WatchEvent> decode(std::string_view body, uint8_t cut_seed) {
  kube::WatchDecoder d(kPools);
  std::vector<kube::WatchEvent> events;
  size_t step = cut_seed == 0 ? body.size() + 1 : cut_seed;
  while (!body.empty()) {
    const size_t n = std::min(step, body.size());
    d.feed(body.substr(0, n));
    body.remove_prefix(n);
    for (auto& e : d.take_events())
      events.push_back(std::move(e));
    step = step % 7 + 1;  // uneven chunk sizes
  }
  d.finish();
  for (auto& e : d.take_events())
    events.push_back(std::move(e));
  FUZZ_CHECK(d.finished(), "finish() finishes");
  return events;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const auto body = fuzz::as_text(data + 1, size - 1);
  const auto whole = decode(body, 0);
  const auto chunked = decode(body, data[0]);
  FUZZ_CHECK(whole.size() == chunked.size(), "chunking does not change the event count");
  for (size_t i = 0; i < whole.size(); ++i) {
    const auto& e = whole[i];
    FUZZ_CHECK(e.type == chunked[i].type && e.object == chunked[i].object,
               "chunking does not change events");
    if (e.type == kube::WatchEventType::Error) {
      FUZZ_CHECK(e.error.has_value(), "an Error event has an error");
      FUZZ_CHECK(e.error->code >= 100 && e.error->code <= 599, "an error has an HTTP status");
    } else {
      FUZZ_CHECK(
          e.object.is_object() && e.object.contains("apiVersion") && e.object.contains("kind"),
          "events carry apiVersion and kind");
    }
  }
  return 0;
}
