#pragma once
// The simulated market: for each provider the pool may buy from, how many
// machines it can run at once, how long a machine takes from create to
// Ready, and how often a create fails with no capacity. Set by repeatable
// flags (--capacity P=N, --boot-seconds P=S, --no-capacity-rate P=R) or a
// YAML file (--market FILE), flags winning over the file:
//
//   providers:
//     fluence:
//       capacity: 4            # most machines at once; omitted: unlimited
//       bootSeconds: 180       # create -> Ready; omitted: default_boot_seconds(type)
//       noCapacityRate: 0.05   # probability a create fails NoCapacity; default 0
//     aws: {capacity: 2}
//
// Provider names are GpuProvider names as the pool lists them. Unknown keys
// are errors (a typo must not silently change the market).
//
// Thread-safety: pure functions and value types.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "operator/base/result.h"

namespace gpupool::sim {

struct ProviderMarket {
  std::optional<int> capacity;             // unset: unlimited
  std::optional<int64_t> boot_seconds;     // unset: default_boot_seconds(type)
  std::optional<double> no_capacity_rate;  // unset: 0
  bool operator==(const ProviderMarket&) const = default;
};

struct MarketSettings {
  std::map<std::string, ProviderMarket> providers;  // by GpuProvider name
};

struct MarketError {
  std::string message;  // names the field or flag: "providers.aws.capacity: ..."
};

// Parses the YAML market file.
Result<MarketSettings, MarketError> parse_market(std::string_view yaml);

enum class MarketFlag { Capacity, BootSeconds, NoCapacityRate };
// Applies one "PROVIDER=VALUE" flag value; `flag` names the flag in errors.
Status<MarketError> apply_flag(MarketSettings& market, MarketFlag which, std::string_view flag,
                               std::string_view value);

// Create-to-Ready seconds used when the market does not say, per provider
// type, and where the figure comes from (docs/simulate.md lists them).
struct BootDefault {
  int64_t seconds = 0;
  std::string_view source;
};
BootDefault default_boot(std::string_view provider_type);

}  // namespace gpupool::sim
