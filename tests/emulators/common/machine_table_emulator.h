#pragma once
// The account an emulator keeps, shared by every emulator whose state is one
// table of the machines it has made (instances, droplets, pods, VMs,
// servers): the options it was made with (catalog, clock, credentials,
// port), the table, the lock over both, what tests read of the table, and
// the admin endpoints' state. The emulator adds its routes, its id scheme
// and how its machines move through their states (advance_locked()).
//
// Thread-safe.

#include <cstddef>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "tests/emulators/common/emulator_base.h"

namespace gpupool::emulators {

// Sets how many machines catalog entry `id` (the entry whose `id_field` it
// is) has room for in `region`; -1: unlimited. For catalogs whose entries
// keep a `capacity` map of region -> machines.
template <typename Entry>
void set_region_capacity(std::vector<Entry>& catalog, std::string Entry::*id_field,
                         const std::string& id, const std::string& region, int n) {
  for (auto& entry : catalog) {
    if (entry.*id_field == id) entry.capacity[region] = n;
  }
}

template <typename Options, typename Machine>
class MachineTableEmulator : public EmulatorBase {
 protected:
  explicit MachineTableEmulator(Options options)
      : EmulatorBase(options.port), options_(std::move(options)) {}

  // Every machine made so far, gone ones included, moved on to the clock's
  // now.
  std::vector<Machine> machines() const {
    std::lock_guard<std::mutex> lock(mu_);
    const_cast<MachineTableEmulator*>(this)->advance_locked();
    return machines_;
  }

  // Moves the machines through their states up to the clock's now (booting
  // to running, terminating to gone). Called with mu_ held. Default: they
  // change only on requests.
  virtual void advance_locked() {}

  // GET /__emulator/state's JSON: how many machines the table holds,
  // {"<noun>":n}.
  std::string table_state_json(const std::string& noun) const {
    return "{\"" + noun + "\":" + std::to_string(machines().size()) + "}";
  }
  // The same with how many of them are `alive` and the requests received:
  // {"alive":a,"<noun>":n,"requests":r}.
  std::string table_state_json(const std::string& noun, int alive) const {
    const size_t n = machines().size();
    return "{\"alive\":" + std::to_string(alive) + ",\"" + noun + "\":" + std::to_string(n) +
           ",\"requests\":" + std::to_string(requests()) + "}";
  }

  Options options_;
  mutable std::mutex mu_;
  std::vector<Machine> machines_;  // guarded by mu_
};

}  // namespace gpupool::emulators
