// Fuzz target: the GpuPool / GpuInstance / GpuProvider JSON codec
// (operator/core/api_codec.h), as the operator meets it: text from the API
// server or a user file, decoded leniently and strictly.
//
// Invariants: decoding never throws or crashes; a decoded object re-encodes
// to JSON that decodes strictly to the same object (decode(encode(x)) == x),
// and encoding is deterministic; validation runs on whatever decoded.
#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <variant>

#include "fuzz/fuzz_check.h"
#include "operator/core/api_codec.h"
#include "operator/core/api_validation.h"

namespace {

using namespace gpupool;

void round_trip(const api::ApiObject& object) {
  const nlohmann::json encoded = api::encode(object);
  auto again = api::decode_object(encoded, api::DecodeMode::Strict);
  FUZZ_CHECK(again.ok(), "an encoded object decodes strictly");
  FUZZ_CHECK(again->index() == object.index(), "round trip keeps the kind");
  FUZZ_CHECK(*again == object, "decode(encode(x)) == x");
  FUZZ_CHECK(api::encode(*again) == encoded, "encoding is deterministic");
  // Validation must cope with any decoded value (results are not checked).
  (void)api::validate(object);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto doc = api::parse_json(fuzz::as_text(data, size));
  if (!doc) {
    FUZZ_CHECK(doc.error().kind == api::DecodeError::Kind::Syntax, "bad JSON is a Syntax error");
    return 0;
  }
  for (auto mode : {api::DecodeMode::Lenient, api::DecodeMode::Strict}) {
    auto object = api::decode_object(*doc, mode);
    if (object) round_trip(*object);
    auto partial = api::decode_object_partial(*doc, mode);
    FUZZ_CHECK(partial.object.has_value() != partial.unknown_kind,
               "a partial decode has an object unless the kind is unknown");
    if (object) FUZZ_CHECK(partial.errors.empty(), "a clean decode has no partial errors");
    if (partial.object) (void)api::encode(*partial.object);
  }
  return 0;
}
