#include "operator/sim/market.h"
#include "operator/yaml/safe_load.h"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <cmath>

namespace gpupool::sim {
namespace {

std::optional<int64_t> to_int(std::string_view s) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<double> to_double(std::string_view s) {
  double v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

Status<MarketError> set(ProviderMarket& pm, MarketFlag which, std::string_view value,
                        const std::string& where) {
  switch (which) {
    case MarketFlag::Capacity: {
      auto v = to_int(value);
      if (!v || *v < 0 || *v > 1'000'000) {
        return fail(MarketError{where +
                                ": capacity must be a whole number of machines >= 0, got \"" +
                                std::string(value) + "\""});
      }
      pm.capacity = static_cast<int>(*v);
      return {};
    }
    case MarketFlag::BootSeconds: {
      auto v = to_int(value);
      if (!v || *v < 0 || *v > 86'400) {
        return fail(MarketError{where +
                                ": boot seconds must be a whole number in [0, 86400], got \"" +
                                std::string(value) + "\""});
      }
      pm.boot_seconds = *v;
      return {};
    }
    case MarketFlag::NoCapacityRate: {
      auto v = to_double(value);
      if (!v || *v < 0 || *v > 1) {
        return fail(MarketError{where +
                                ": no-capacity rate must be a probability in [0, 1], got \"" +
                                std::string(value) + "\""});
      }
      pm.no_capacity_rate = *v;
      return {};
    }
  }
  return {};
}

}  // namespace

Result<MarketSettings, MarketError> parse_market(std::string_view yaml) {
  MarketSettings out;
  YAML::Node root;
  try {
    root = yaml::load(yaml);
  } catch (const YAML::Exception& e) {
    return fail(MarketError{"not valid YAML: " + std::string(e.what())});
  }
  if (root.IsNull()) return out;
  if (!root.IsMap())
    return fail(MarketError{"the market file must be a mapping with \"providers\""});
  for (const auto& top : root) {
    const std::string key = top.first.as<std::string>("");
    if (key != "providers") {
      return fail(MarketError{key + ": unknown field (expected \"providers\")"});
    }
    if (top.second.IsNull()) continue;
    if (!top.second.IsMap())
      return fail(MarketError{"providers: must be a mapping of provider names"});
    for (const auto& prov : top.second) {
      const std::string name = prov.first.as<std::string>("");
      const std::string base = "providers." + name;
      ProviderMarket& pm = out.providers[name];
      if (prov.second.IsNull()) continue;
      if (!prov.second.IsMap()) return fail(MarketError{base + ": must be a mapping"});
      for (const auto& field : prov.second) {
        const std::string f = field.first.as<std::string>("");
        if (!field.second.IsScalar())
          return fail(MarketError{base + "." + f + ": must be a number"});
        const std::string value = field.second.Scalar();
        MarketFlag which;
        if (f == "capacity") {
          which = MarketFlag::Capacity;
        } else if (f == "bootSeconds") {
          which = MarketFlag::BootSeconds;
        } else if (f == "noCapacityRate") {
          which = MarketFlag::NoCapacityRate;
        } else {
          return fail(MarketError{base + "." + f +
                                  ": unknown field (capacity, bootSeconds, noCapacityRate)"});
        }
        auto s = set(pm, which, value, base + "." + f);
        if (!s.ok()) return fail(s.error());
      }
    }
  }
  return out;
}

Status<MarketError> apply_flag(MarketSettings& market, MarketFlag which, std::string_view flag,
                               std::string_view value) {
  const size_t eq = value.find('=');
  if (eq == std::string_view::npos || eq == 0) {
    return fail(MarketError{std::string(flag) + " must be PROVIDER=VALUE, got \"" +
                            std::string(value) + "\""});
  }
  const std::string name(value.substr(0, eq));
  return set(market.providers[name], which, value.substr(eq + 1), std::string(flag) + " " + name);
}

BootDefault default_boot(std::string_view type) {
  // Only Fluence documents a figure; the others are assumptions, stated as
  // such (docs/simulate.md).
  if (type == "fluence") {
    return {180, "Fluence docs: provisioning \"typically takes 2-3 minutes\" (upper end)"};
  }
  if (type == "aws") return {90, "assumed: EC2 pending -> running plus OS boot"};
  if (type == "runpod") return {120, "assumed: pod scheduling plus container image pull"};
  if (type == "vastai") return {240, "assumed: marketplace host, image pull in \"loading\""};
  if (type == "lambda") return {300, "assumed: VM boot \"booting\" state"};
  if (type == "fake") return {5, "the in-process fake's own default"};
  return {180, "assumed: no figure documented for this provider"};
}

}  // namespace gpupool::sim
