#include "providers/catalog/catalog.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <utility>

namespace gpupool::catalog {
namespace {

using namespace std::chrono_literals;

// Seed 000 is dated "2026" without a month; seed 001 "December 2025".
constexpr std::string_view kSeedL40S = "seeds/000 (NVIDIA L40S, 2026)";
constexpr std::string_view kSeedL40 = "seeds/001 (NVIDIA L40, 2025-12)";
constexpr std::string_view kReference = "reference/providers.md";

Time date(int y, unsigned m) {
  return std::chrono::sys_days{std::chrono::year{y} / std::chrono::month{m} / 1};
}

Money usd(std::string_view text) {
  return Money::parse(text).value_or(Money());
}

BillingRule rule(Duration minimum, Duration increment, std::string_view egress,
                 BillingAlignment alignment = BillingAlignment::Launch,
                 MinimumKind kind = MinimumKind::Charge) {
  BillingRule r;
  r.minimum = minimum;
  r.increment = increment;
  r.alignment = alignment;
  r.minimum_kind = kind;
  r.egress_per_gb = usd(egress);
  return r;
}

// Egress "yes" without a figure: the top of the documented $0.08-0.12/GB range.
constexpr std::string_view kConservativeEgress = "0.12";

// Billing granularity not documented: hourly from launch.
BillingRule unknown_billing(std::string_view egress) {
  return rule(0s, 1h, egress);
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

Entry row(std::string type, std::string id, std::string model, int gpus, std::string_view price,
          std::vector<std::string> regions, bool exhaustive, ReliabilityTier tier,
          BillingRule billing, bool l40s_seed, std::string note) {
  Entry e;
  e.provider_type = std::move(type);
  e.offer_id = std::move(id);
  e.gpu_model = std::move(model);
  e.gpu_count = gpus;
  e.price_per_hour = usd(price);
  e.regions = std::move(regions);
  e.regions_exhaustive = exhaustive;
  e.tier = tier;
  e.billing = billing;
  e.as_of = l40s_seed ? date(2026, 1) : date(2025, 12);
  e.as_of_text = l40s_seed ? "2026" : "2025-12";
  e.note = std::move(note);
  return e;
}

// The GPU counts a row is offered in under `options`.
std::vector<int> shapes(const Entry& e, const Options& options) {
  if (e.max_gpus_linear <= 0 || options.gpu_counts.empty()) return {e.gpu_count};
  std::vector<int> out;
  for (int n : options.gpu_counts) {
    if (n >= 1 && n <= e.max_gpus_linear && std::find(out.begin(), out.end(), n) == out.end()) {
      out.push_back(n);
    }
  }
  return out;
}

Offer to_offer(const Entry& e, std::string_view provider_name, std::string region, int gpus) {
  Offer o;
  o.provider = provider_name.empty() ? e.provider_type : std::string(provider_name);
  o.provider_type = e.provider_type;
  o.id = gpus == e.gpu_count ? e.offer_id : e.offer_id + " x" + std::to_string(gpus);
  o.region = std::move(region);
  o.gpu_model = e.gpu_model;
  o.gpu_count = gpus;
  o.price_per_hour = e.price_per_hour.scaled(gpus, e.gpu_count);
  o.billing = e.billing;
  o.tier = e.tier;
  o.spot = e.spot;
  o.capacity_hint = -1;
  o.source = "catalog " + e.as_of_text;
  o.as_of = e.as_of;
  return o;
}

}  // namespace

Options planning_options(FluenceBilling fluence) {
  Options o;
  o.fluence = fluence;
  for (int n = 1; n <= 16; ++n)
    o.gpu_counts.push_back(n);
  return o;
}

BillingRule fluence_billing(FluenceBilling reading) {
  if (reading == FluenceBilling::FluenceDocs) {
    return rule(3h, 1h, "0", BillingAlignment::WallClock, MinimumKind::Deposit);
  }
  return rule(3h, 1h, "0");
}

std::optional<BillingRule> default_billing(std::string_view type, const Options& options) {
  if (type == "fluence") return fluence_billing(options.fluence);
  if (type == "aws") return rule(60s, 1s, "0.09");
  if (type == "runpod") return rule(0s, 1s, "0");
  if (type == "vastai") return rule(0s, 1s, kConservativeEgress);
  if (type == "lambda") return rule(0s, 60s, "0");
  if (type == "verda") return rule(0s, 10min, "0");
  if (type == "digitalocean") return rule(0s, 1s, kConservativeEgress);
  if (type == "scaleway") return rule(1h, 60s, kConservativeEgress);
  if (type == "coreweave") return unknown_billing("0");
  if (type == "vultr" || type == "salad" || type == "novita" || type == "civo") {
    return unknown_billing(kConservativeEgress);
  }
  return std::nullopt;
}

std::vector<Entry> entries(const Options& options) {
  const auto billing = [&](std::string_view type) {
    return default_billing(type, options).value();
  };
  constexpr auto kDc = ReliabilityTier::Datacenter;
  constexpr auto kCommunity = ReliabilityTier::Community;
  const std::string s0(kSeedL40S);
  const std::string s1(kSeedL40);
  const std::string ref(kReference);
  std::vector<Entry> out;

  // ---- L40S (seed 000, 2026) ----
  // Regions in the form the Fluence API gives an option's `location`
  // ("<city>-<country>-<n>"), so a GpuProvider's regions and the live
  // options read alike. Seed 000 names seven cities; only the four whose
  // location ids a source gives are listed, and the list is not exhaustive.
  out.push_back(
      row("fluence", "l40s", "L40S", 1, "1.27",
          {"culpeper-usa-1", "desmoines-usa-1", "houston-usa-1", "warsaw-poland-1"}, false, kDc,
          billing("fluence"), true,
          s0 + ": $1.27/h via a verified Sesterce data center (range $0.94-2.04) in seven "
               "cities (Culpeper, Des Moines, Houston, Helsinki, Paris, Warsaw, Melbourne). "
               "Regions are the API's location ids for the four cities a source names: "
               "culpeper-usa-1 (Fluence docs, get_plans), desmoines-usa-1, houston-usa-1 and "
               "warsaw-poland-1 (location ids of the same marketplace seen in third-party "
               "listings); Helsinki, Paris and Melbourne ids are unknown, so the list is not "
               "exhaustive and a GpuProvider's regions keep the price. Zero egress. Billing: "
               "Fluence's own GPU Cloud docs (fixed UTC "
               "clock hours, 3 h prepaid deposit, unused reserve refunded) are the default "
               "reading, being the provider's word on its bill; the seed's '3-hour minimum "
               "then hourly' charge is FluenceBilling::SeedDocuments."));
  out.push_back(row("aws", "g6e.xlarge", "L40S", 1, "1.86", {"us-east-1"}, false, kDc,
                    billing("aws"), true,
                    s0 + ": g6e.xlarge $1.86/h (" + ref +
                        " §2.3: $1.861 in us-east-1); per-second with a 60 s minimum and "
                        "$0.09/GB egress (" +
                        ref + " §2.9)."));
  out.push_back(row("verda", "1L40S.20V", "L40S", 1, "0.91",
                    {"FIN-01", "FIN-02", "FIN-03", "ICE-01"}, true, kDc, billing("verda"), true,
                    s0 +
                        ": DataCrunch (now Verda) $0.91/h, data center, egress 'low' without a "
                        "figure (assumed $0). Type id and locations from " +
                        ref + " §6.1; 10-minute increments are unconfirmed there."));
  out.push_back(row("runpod", "SECURE/NVIDIA L40S", "L40S", 1, "0.86", {}, false, kDc,
                    billing("runpod"), true,
                    s0 +
                        ": Runpod $0.86/h; Secure Cloud is data-center grade (seed 001). "
                        "Per-second, no egress fees (" +
                        ref + " §3.8)."));
  out.push_back(
      row("runpod", "COMMUNITY/NVIDIA L40S", "L40S", 1, "0.79", {}, false, kCommunity,
          billing("runpod"), true,
          s0 + ": Runpod reliability 'variable' (mixed hosts); community price ~$0.79/h from " +
              ref + " §3.8 (third-party snapshot). Per-second, no egress fees."));
  out.push_back(
      row("vastai", "L40S", "L40S", 1, "0.68", {}, false, kCommunity, billing("vastai"), true,
          s0 + ": Vast.ai $0.68/h, mixed consumer and data-center hosts. Per-second (" + ref +
              " §4.8). Egress is charged per host without a figure: assumed "
              "$0.12/GB (top of the documented range)."));
  out.push_back(row("salad", "L40S", "L40S", 1, "0.32", {}, false, kCommunity, billing("salad"),
                    true,
                    s0 + ": Salad $0.32/h, consumer-grade. Egress charged without a figure: "
                         "assumed $0.12/GB. Billing granularity not documented: assumed hourly."));
  out.push_back(row("novita", "L40S", "L40S", 1, "0.68", {}, false, kCommunity, billing("novita"),
                    true,
                    s0 + ": only the budget-marketplace range $0.32-0.68/h; upper bound used. "
                         "Egress and billing not documented: $0.12/GB and hourly assumed."));
  out.push_back(row("civo", "L40S", "L40S", 1, "1.29", {}, false, kDc, billing("civo"), true,
                    s0 + ": only the mid-tier range $0.86-1.29/h; upper bound used. Egress and "
                         "billing not documented: $0.12/GB and hourly assumed."));
  out.push_back(row("digitalocean", "gpu-l40sx1-48gb", "L40S", 1, "1.57", {"tor1"}, false, kDc,
                    billing("digitalocean"), true,
                    s0 + ": enterprise range $1.57-2.24/h; " + ref +
                        " §6.5: gpu-l40sx1-48gb ~$1.57/h in TOR1, per-second (third-party). "
                        "Egress figure not documented: $0.12/GB assumed."));
  out.push_back(row("scaleway", "L40S-1-48G", "L40S", 1, "2.24", {"fr-par-2"}, false, kDc,
                    billing("scaleway"), true,
                    s0 + ": enterprise range $1.57-2.24/h, upper bound used (" + ref +
                        " §6.3: ~EUR 1.40-1.47/h); per-minute with a 60-minute minimum "
                        "(unconfirmed). Egress not documented: $0.12/GB assumed."));
  out.push_back(row(
      "vultr", "vcg-l40s-16c-180g-48vram", "L40S", 1, "2.09", {}, false, kDc, billing("vultr"),
      true,
      s0 + ": enterprise range $1.57-2.24/h; " + ref +
          " §6.4: ~$2.09/h (third-party). Egress and billing not documented: $0.12/GB and hourly "
          "assumed."));
  out.push_back(row("coreweave", "gd-8xl40s-i128", "L40S", 8, "18.00", {}, false, kDc,
                    billing("coreweave"), true,
                    s0 + " has no CoreWeave figure; " + ref +
                        " §6.2: 8x L40S nodes only, ~$18.00/h per node (third-party). Zero "
                        "egress per seeds/001; billing not documented: hourly assumed."));

  out.push_back(row("aws", "g6e.12xlarge", "L40S", 4, "10.4926", {"us-east-1"}, false, kDc,
                    billing("aws"), true,
                    s0 + " names g6e for L40S; " + ref +
                        " §2.3: g6e.12xlarge (4 GPUs) ~$10.4926/h in us-east-1 (third-party "
                        "copy of the AWS price list). Per-second, 60 s minimum, $0.09/GB."));
  out.push_back(row("aws", "g6e.48xlarge", "L40S", 8, "30.13118", {"us-east-1"}, false, kDc,
                    billing("aws"), true,
                    s0 + " names g6e for L40S; " + ref +
                        " §2.3: g6e.48xlarge (8 GPUs) ~$30.13118/h in us-east-1 (third-party "
                        "copy of the AWS price list). Per-second, 60 s minimum, $0.09/GB."));

  // ---- L40 (seed 001, 2025-12) ----
  out.push_back(row("fluence", "l40", "L40", 1, "1.27", {}, false, kDc, billing("fluence"), false,
                    s1 + ": Fluence from $1.27/h (range $1.27-3.98), verified data centers, "
                         "zero egress; locations not given."));
  out.push_back(row("runpod", "SECURE/NVIDIA L40", "L40", 1, "0.99", {}, false, kDc,
                    billing("runpod"), false,
                    s1 + ": marketplaces $0.69-1.50/h; Runpod Secure Cloud 'sub-$1' -> $0.99. "
                         "Per-second, no egress fees."));
  out.push_back(row("vastai", "L40", "L40", 1, "0.69", {}, false, kCommunity, billing("vastai"),
                    false,
                    s1 + ": marketplaces $0.69-1.50/h; low end used (Vast.ai is the cheapest "
                         "marketplace in seed 000). Egress assumed $0.12/GB."));
  out.push_back(row("coreweave", "gd-8xl40-i128", "L40", 8, "14.40", {}, false, kDc,
                    billing("coreweave"), false,
                    s1 + ": CoreWeave $1.80 per GPU-hour, no egress fees; 8x L40 nodes only (" +
                        ref + " §6.2) -> $14.40/h per node. Billing not documented: hourly."));
  // Marketplaces that sell 1..8 GPUs per machine at a per-GPU price.
  for (Entry& e : out) {
    if (e.provider_type == "runpod" || e.provider_type == "vastai" ||
        e.provider_type == "fluence") {
      e.max_gpus_linear = 8;
      e.note += " Machines with 2-8 GPUs assumed at N x this per-GPU price.";
    }
  }
  return out;
}

OfferIds offer_ids_of_type(std::string_view type) {
  return type == "vastai" || type == "fluence" ? OfferIds::Listing : OfferIds::Shape;
}

std::vector<Gap> gaps() {
  using K = Gap::Kind;
  const std::string s0(kSeedL40S);
  const std::string s1(kSeedL40);
  const std::string ref(kReference);
  return {
      {"aws", "L40", K::NotOffered,
       s1 + " quotes g5.12xlarge at $9.00/h, but g5 carries A10G GPUs; no EC2 type has an L40 (" +
           ref + " §2.3)."},
      {"lambda", "L40S", K::NotOffered,
       ref + " §5.3: no Lambda on-demand type with L40S found (seed 000 names Lambda without a "
             "figure)."},
      {"lambda", "L40", K::NotOffered,
       s1 + " lists Lambda Labs at $1.50/h, but " + ref +
           " §5.3 found no Lambda on-demand type with L40; treated as not offered."},
      {"verda", "L40", K::NotOffered, ref + " §6.1: no L40 type found."},
      {"digitalocean", "L40", K::NotOffered, ref + " §6.5: L40S only."},
      {"scaleway", "L40", K::NotOffered, ref + " §6.3: L40S only."},
      {"vultr", "L40", K::NotOffered, ref + " §6.4: L40S only."},
      {"salad", "L40", K::NoFigure, s1 + " gives no Salad L40 figure."},
      {"novita", "L40", K::NoFigure, s1 + " gives no Novita L40 figure."},
      {"civo", "L40", K::NoFigure, s1 + " gives no Civo L40 figure."},
  };
}

std::vector<Offer> offers_for_type(std::string_view type, std::string_view provider_name,
                                   const Options& options) {
  std::vector<Offer> out;
  for (const Entry& e : entries(options)) {
    if (e.provider_type != type) continue;
    const std::vector<std::string> regions =
        e.regions.empty() ? std::vector<std::string>{""} : e.regions;
    for (int gpus : shapes(e, options)) {
      for (const std::string& region : regions) {
        out.push_back(to_offer(e, provider_name, region, gpus));
      }
    }
  }
  return out;
}

std::vector<Offer> place_in_regions(std::vector<Offer> offers,
                                    const std::vector<std::string>& regions) {
  if (regions.empty()) return offers;
  std::vector<Offer> out;
  for (Offer& o : offers) {
    if (!o.region.empty()) {
      out.push_back(std::move(o));
      continue;
    }
    for (const std::string& r : regions) {
      out.push_back(o);
      out.back().region = r;
    }
  }
  return out;
}

std::vector<Offer> offers_for(const api::GpuProvider& provider, const Options& options) {
  const api::GpuProviderSpec& spec = provider.spec;
  const std::vector<Entry> all = entries(options);
  // Whether this provider has a datacenter row for a model (see spec.reliability).
  const auto has_datacenter_row = [&](const std::string& model) {
    return std::any_of(all.begin(), all.end(), [&](const Entry& x) {
      return x.provider_type == spec.type && x.gpu_model == model &&
             x.tier == ReliabilityTier::Datacenter;
    });
  };
  std::vector<Offer> out;
  for (const Entry& e : all) {
    if (e.provider_type != spec.type) continue;
    if (spec.reliability == ReliabilityTier::Datacenter && e.tier == ReliabilityTier::Community &&
        has_datacenter_row(e.gpu_model)) {
      continue;
    }
    // spec.runpod.cloudType: the adapter offers and buys from that cloud only
    // (offer ids "<CLOUD>/<gpu type>").
    if (spec.runpod && !spec.runpod->cloud_type.empty() && spec.runpod->cloud_type != "ALL" &&
        !e.offer_id.starts_with(spec.runpod->cloud_type + "/")) {
      continue;
    }
    std::vector<std::string> regions;
    if (spec.regions.empty()) {
      regions = e.regions.empty() ? std::vector<std::string>{""} : e.regions;
    } else if (e.regions_exhaustive) {
      for (const std::string& r : spec.regions) {
        if (std::find(e.regions.begin(), e.regions.end(), r) != e.regions.end()) {
          regions.push_back(r);
        }
      }
    } else {
      regions = spec.regions;
    }
    for (int gpus : shapes(e, options)) {
      for (const std::string& region : regions) {
        Offer o = to_offer(e, provider.metadata.name, region, gpus);
        if (spec.billing) o.billing = *spec.billing;
        if (spec.egress_usd_per_gb) o.billing.egress_per_gb = *spec.egress_usd_per_gb;
        if (spec.reliability) o.tier = *spec.reliability;
        const api::PriceOverride* best = nullptr;
        for (const api::PriceOverride& p : spec.price_overrides) {
          if (!iequals(p.gpu_model, o.gpu_model)) continue;
          if (p.region && *p.region != o.region) continue;
          if (best == nullptr || (p.region && !best->region)) best = &p;
        }
        if (best != nullptr) {
          o.price_per_hour = best->price_per_gpu_hour * o.gpu_count;
          o.source += " + priceOverride";
        }
        out.push_back(std::move(o));
      }
    }
  }
  return out;
}

std::string_view to_string(Gap::Kind kind) {
  return kind == Gap::Kind::NotOffered ? "not offered" : "no figure";
}

}  // namespace gpupool::catalog
