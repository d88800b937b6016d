#pragma once
// Loading YAML from outside (a GpuPool file, a kubeconfig, a market file, a
// request body) without yaml-cpp's endless loops.
//
// yaml-cpp 0.7 never returns on some malformed streams: a document that
// starts with a flow entry outside a flow collection (the one-byte file ","
// or "# comment\n, text") makes Parser::HandleNextDocument emit null nodes
// forever without consuming the stray token, allocating until memory runs
// out (found by fuzz/api_codec_yaml). These functions first walk the
// stream's parse events with a counter; a well-formed stream has a few
// events per byte at most, so past kMaxEventsPerByte * size + kEventSlack
// the walk stops with a YAML::ParserException at the last event's position,
// which every caller already reports as invalid YAML. Only then is the
// stream loaded. Both passes are linear in the input.
//
// Thread-safety: pure functions.

#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>

namespace gpupool::yaml {

inline constexpr long kMaxEventsPerByte = 8;
inline constexpr long kEventSlack = 64;

// YAML::LoadAll / YAML::Load with the guard. Throw YAML::Exception (a
// ParserException for a runaway stream) as yaml-cpp does for invalid YAML.
std::vector<YAML::Node> load_all(std::string_view text);
YAML::Node load(std::string_view text);

}  // namespace gpupool::yaml
