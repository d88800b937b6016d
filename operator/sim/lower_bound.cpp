#include "operator/sim/lower_bound.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace gpupool::sim {
namespace {

constexpr double kEps = 1e-9;

struct Search {
  std::vector<BoundOffer> offers;  // by cost per equivalent GPU, ascending
  std::vector<int> cap_index;      // offer -> index into caps
  std::vector<long> caps;          // remaining machines per provider (LONG_MAX: unlimited)
  int64_t best = std::numeric_limits<int64_t>::max();
  long nodes = 0;
  bool aborted = false;

  // Fractional relaxation of covering `need` with offers idx.. (ratio order).
  double relaxation(size_t idx, double need) const {
    std::vector<double> left(caps.begin(), caps.end());
    double cost = 0;
    for (size_t i = idx; i < offers.size() && need > kEps; ++i) {
      double& c = left[static_cast<size_t>(cap_index[i])];
      if (c <= kEps) continue;
      const double take = std::min(need, c * offers[i].size);
      cost += take / offers[i].size * static_cast<double>(offers[i].per_hour.micros());
      c -= take / offers[i].size;
      need -= take;
    }
    return need > kEps ? std::numeric_limits<double>::infinity() : cost;
  }

  void dfs(size_t idx, double need, int64_t cost) {
    if (aborted) return;
    if (++nodes > kMaxNodes) {
      aborted = true;
      return;
    }
    if (need <= kEps) {
      best = std::min(best, cost);
      return;
    }
    if (idx >= offers.size()) return;
    const double lb = relaxation(idx, need);
    if (!std::isfinite(lb) || static_cast<double>(cost) + lb >= static_cast<double>(best) - 0.5) {
      return;
    }
    const BoundOffer& o = offers[idx];
    long& cap = caps[static_cast<size_t>(cap_index[idx])];
    const long most = std::min(cap, static_cast<long>(std::ceil(need / o.size - kEps)));
    for (long n = most; n >= 0; --n) {
      cap -= n;
      dfs(idx + 1, need - static_cast<double>(n) * o.size, cost + o.per_hour.micros() * n);
      cap += n;
      if (aborted) return;
    }
  }
};

}  // namespace

Cover cheapest_cover(const std::vector<BoundOffer>& offers_in,
                     const std::map<std::string, int>& capacity, double demand) {
  Search s;
  for (const BoundOffer& o : offers_in) {
    if (o.size > 0 && o.per_hour.micros() >= 0) s.offers.push_back(o);
  }
  std::stable_sort(s.offers.begin(), s.offers.end(), [](const BoundOffer& a, const BoundOffer& b) {
    return static_cast<double>(a.per_hour.micros()) / a.size <
           static_cast<double>(b.per_hour.micros()) / b.size;
  });
  std::map<std::string, int> index;
  for (const BoundOffer& o : s.offers) {
    auto [it, fresh] = index.emplace(o.provider, static_cast<int>(s.caps.size()));
    if (fresh) {
      auto c = capacity.find(o.provider);
      s.caps.push_back(c == capacity.end() || c->second < 0 ? std::numeric_limits<long>::max() / 4
                                                            : c->second);
    }
    s.cap_index.push_back(it->second);
  }
  // What every provider together can serve.
  double most = 0;
  {
    std::vector<double> best_size(s.caps.size(), 0);
    for (size_t i = 0; i < s.offers.size(); ++i) {
      auto& b = best_size[static_cast<size_t>(s.cap_index[i])];
      b = std::max(b, s.offers[i].size);
    }
    for (size_t p = 0; p < s.caps.size(); ++p) {
      most += static_cast<double>(std::min<long>(s.caps[p], 1'000'000'000L)) * best_size[p];
    }
  }
  Cover out;
  out.served = std::min(demand, most);
  if (out.served <= kEps) return out;
  s.dfs(0, out.served, 0);
  if (s.aborted || s.best == std::numeric_limits<int64_t>::max()) {
    out.exact = false;
    const double frac = s.relaxation(0, out.served);
    out.per_hour =
        Money::from_micros(std::isfinite(frac) ? static_cast<int64_t>(std::floor(frac)) : 0);
    return out;
  }
  out.per_hour = Money::from_micros(s.best);
  return out;
}

Bound lower_bound(const Trace& trace, const std::vector<BoundOffer>& offers,
                  const std::map<std::string, int>& capacity) {
  Bound out;
  std::map<double, Cover> cache;
  for (size_t i = 0; i + 1 < trace.steps.size(); ++i) {
    const double d = trace.steps[i].gpus;
    auto it = cache.find(d);
    if (it == cache.end()) it = cache.emplace(d, cheapest_cover(offers, capacity, d)).first;
    const Cover& c = it->second;
    const Duration span{trace.steps[i + 1].time_s - trace.steps[i].time_s};
    out.total += c.per_hour.for_duration(span);
    out.exact = out.exact && c.exact;
    out.served_gpu_hours += c.served * static_cast<double>(span.count()) / 3600.0;
  }
  return out;
}

}  // namespace gpupool::sim
