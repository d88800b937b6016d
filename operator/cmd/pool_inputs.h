#pragma once
// What `plan` and `simulate` both read: a GpuPool file (which may also hold
// GpuProvider documents) and an optional GpuProvider file, decoded, defaulted
// and validated; and the catalog offers of the pool's providers with each
// GpuProvider's overrides applied — the same offers the operator plans on
// (ProviderRegistry), with no region placement.
//
// Thread-safety: plain functions; safe concurrently (they read only the
// files named).

#include <iosfwd>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "operator/core/api_types.h"
#include "operator/core/offer.h"
#include "operator/core/planner.h"
#include "providers/catalog/catalog.h"

namespace gpupool::cmd {

struct PoolInputs {
  api::GpuPool pool;
  std::vector<api::GpuProvider> providers;  // from both files, in file order
};

struct LoadOutcome {
  std::optional<PoolInputs> inputs;  // set when everything loaded
  // True when a file could not be read at all (missing, a directory, an I/O
  // error); false when what was read is malformed or invalid.
  bool unreadable = false;
};

// Reads `pool_file` ("-": stdin) and, when non-empty, `providers_file`.
// Prints every problem, with the file and the field path, to `err`.
LoadOutcome load_pool_inputs(const std::string& pool_file, const std::string& providers_file,
                             std::ostream& err);

struct PoolOffers {
  std::vector<Offer> offers;  // Offer::provider is the pool's provider name
  // Paused and quota of each provider with a GpuProvider object.
  std::map<std::string, planner::ProviderState> providers;
  // Provider name -> adapter type ("fluence"); absent when neither a
  // GpuProvider object nor a catalog type of that name exists.
  std::map<std::string, std::string> types;
  std::vector<std::string> notes;  // for people: gaps, unused overrides, unknown providers
};

// The offers of every provider `spec` names: a GpuProvider in `providers`
// with that name (catalog::offers_for, its overrides applied), else the
// catalog provider type of that name. `providers_file_given` only changes
// the notes. A pool that bootstraps Nodes gets no offers from providers
// that cannot run its template (user_data_support_of_type), with a note.
PoolOffers catalog_offers(const api::GpuPoolSpec& spec,
                          const std::vector<api::GpuProvider>& providers,
                          catalog::FluenceBilling fluence, bool providers_file_given);

}  // namespace gpupool::cmd
