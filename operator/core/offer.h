#pragma once
// The value types every part agrees on when talking about what can be bought:
// an Offer (one purchasable machine shape at one provider and region) and its
// BillingRule. Pure data; the arithmetic lives in billing.h, ranking in planner.h.

#include <string>

#include "operator/clock/clock.h"
#include "operator/core/money.h"

namespace gpupool {

// Sane maxima for money that comes from people or providers. The CRD's
// patterns and api validation refuse anything above them, and the planner
// treats an offer beyond them as malformed, so arithmetic on real inputs stays
// far from the edges of Money's range (which saturates, never wraps).
namespace limits {
// Price of one machine (or one GPU) per hour: below $100,000.
inline constexpr Money kMaxPricePerHour = Money::from_micros(99'999'999'999);
// Egress price per GB: below $1,000.
inline constexpr Money kMaxEgressPerGb = Money::from_micros(999'999'999);
// Budget caps ($/h and $/month): below $10 billion.
inline constexpr Money kMaxBudget = Money::from_micros(9'999'999'999'999'999);
// Expected egress per GPU-hour, in GB.
inline constexpr double kMaxEgressGbPerGpuHour = 1'000'000.0;
}  // namespace limits

// Where billing increments start counting from.
enum class BillingAlignment {
  Launch,     // increments run from the launch time (AWS, Runpod, ...)
  WallClock,  // increments are fixed UTC clock slots, e.g. 15:00-16:00 (Fluence's own docs)
};

// What the minimum billed duration means.
enum class MinimumKind {
  Charge,   // the minimum is billed even if the machine ends earlier (seed documents' Fluence rule)
  Deposit,  // the minimum is prepaid but the unused part is refunded (Fluence's own docs)
};

struct BillingRule {
  Duration minimum{0};    // minimum billed duration (0: none)
  Duration increment{1};  // billing granularity after the minimum; > 0
  BillingAlignment alignment = BillingAlignment::Launch;
  MinimumKind minimum_kind = MinimumKind::Charge;
  Money egress_per_gb;  // price of one GB leaving the provider

  bool operator==(const BillingRule&) const = default;
};

// How much a provider's hardware can be trusted to stay up.
enum class ReliabilityTier {
  Datacenter,  // verified data-center hosts with an operator behind them
  Community,   // marketplaces with consumer or unverified hosts
};

struct Offer {
  std::string provider;       // GpuProvider object name ("fluence-main")
  std::string provider_type;  // adapter type ("fluence", "aws", "runpod", ...)
  std::string id;             // provider's id for the shape: plan id, instance type, ...
  std::string region;         // provider's region / location code
  std::string gpu_model;      // canonical model name: "L40S", "L40", ...
  int gpu_count = 1;          // GPUs per machine
  Money price_per_hour;       // for the whole machine
  BillingRule billing;
  ReliabilityTier tier = ReliabilityTier::Datacenter;
  bool spot = false;
  int capacity_hint = -1;  // machines known to be available; -1: unknown
  std::string source;      // "catalog 2026-01" or "live"; for people
  Time as_of{};            // when the price was observed

  bool operator==(const Offer&) const = default;
};

}  // namespace gpupool
