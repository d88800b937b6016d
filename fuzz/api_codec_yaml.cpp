// Fuzz target: the YAML side of the API codec (operator/core/api_codec.h):
// yaml_to_json (kubectl's scalar resolution, duplicate keys, depth and alias
// limits), decode_yaml over multi-document streams, and to_yaml.
//
// Invariants: no crash, no exception, no unbounded recursion; every decoded
// object survives encode -> to_yaml -> decode_yaml unchanged; to_yaml of any
// JSON value yaml_to_json produced reads back as the same value.
#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_check.h"
#include "operator/core/api_codec.h"

using namespace gpupool;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto text = fuzz::as_text(data, size);
  auto docs = api::yaml_to_json(text);
  if (docs) {
    for (const auto& doc : *docs) {
      const std::string yaml = api::to_yaml(doc);
      auto back = api::yaml_to_json(yaml);
      FUZZ_CHECK(back.ok(), "to_yaml output parses");
      FUZZ_CHECK(back->size() <= 1, "to_yaml writes one document");
      if (back->size() == 1) FUZZ_CHECK(back->front() == doc, "yaml_to_json(to_yaml(v)) == v");
    }
  }
  for (auto mode : {api::DecodeMode::Lenient, api::DecodeMode::Strict}) {
    auto objects = api::decode_yaml(text, mode);
    if (!objects) continue;
    FUZZ_CHECK(docs.ok(), "decode_yaml succeeds only on valid YAML");
    for (const auto& object : *objects) {
      const std::string yaml = api::to_yaml(api::encode(object));
      auto again = api::decode_yaml(yaml, api::DecodeMode::Strict);
      FUZZ_CHECK(again.ok(), "to_yaml of an object decodes strictly");
      FUZZ_CHECK(again->size() == 1, "one object, one document");
      FUZZ_CHECK(again->front() == object, "decode_yaml(to_yaml(encode(x))) == x");
    }
  }
  return 0;
}
