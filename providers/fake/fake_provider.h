#pragma once
// A stateful, in-process provider for tests and the simulator.
//
// It sells the offers it is configured with, up to a capacity per offer,
// boots machines after a delay measured on the injected Clock (so a FakeClock
// drives it), honours the Provider contract exactly (create idempotent on the
// intent name, terminate until NotFound) and keeps a ledger of every machine
// it ever created, billed with the offer's BillingRule. Tests compare the
// operator's own spend totals with that ledger.
//
// Faults are injected per method: the next N calls fail with a given error,
// or a create succeeds at the "provider" but its answer is lost (Transient),
// which is how a client timeout after a successful create looks.
//
// The simulator (operator/sim) models a market with three more options: a
// provider-wide capacity (most machines running at once, whatever the
// offer), a probability that a create fails NoCapacity (drawn from a PRNG
// seeded by `seed`, once per create that would otherwise buy a machine, so a
// run is reproducible), and the egress the simulated workload sends, which
// the ledger bills at the offer's egress price like compute.
//
// Endpoint mode: a create whose intent carries a container (checked like
// every adapter checks it: container::check_container) records it in the
// ledger, and once the machine runs reports public_address =
// endpoint_address (loopback by default, so a test can point a health check
// at a local server) and public_port = the port set for its intent name
// (set_endpoint_port), else the container's port. Node-mode machines keep
// their 198.51.100.x address and port 0. Nothing here touches billing.
//
// Thread safety: every public method is safe to call concurrently.

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "operator/base/thread_annotations.h"
#include "operator/clock/clock.h"
#include "providers/provider.h"

namespace gpupool {

enum class FakeMethod { Offers, Create, Get, List, Terminate };

struct FakeOffer {
  Offer offer;
  int capacity = -1;  // machines that can run at once from this offer; -1: unlimited
};

struct FakeProviderOptions {
  std::string name = "fake";
  std::vector<FakeOffer> offers;
  Duration boot_delay{60};      // Pending -> Running after this long
  Duration terminate_delay{0};  // Terminating -> Terminated after this long
  // Most machines (Pending or Running) at once across every offer; -1:
  // unlimited. A create beyond it fails NoCapacity.
  int max_machines = -1;
  // Probability in [0, 1] that a create which would buy a machine fails
  // NoCapacity instead ("sold out right now").
  double no_capacity_rate = 0.0;
  uint64_t seed = 1;  // of the no-capacity draws
  // GB each GPU sends per hour while its machine exists; billed at the
  // offer's billing.egress_per_gb (billing::egress_per_hour), per second.
  double egress_gb_per_gpu_hour = 0.0;
  // How the fake says it carries user data (Provider::user_data_support);
  // the ledger keeps what each create sent.
  UserDataSupport user_data = UserDataSupport::CloudInit;
  // The address Endpoint machines report once running.
  std::string endpoint_address = "127.0.0.1";
};

// One machine the provider ever created, with its bill.
struct FakeLedgerEntry {
  Machine machine;  // latest view
  std::string pool_uid;
  std::string offer_key;  // planner::offer_key of the offer it was bought from
  BillingRule billing;
  Time launched{};
  std::optional<Time> ended;  // when termination was requested
  std::string user_data;      // InstanceIntent::user_data of the create that bought it
  ContainerSpec container;    // InstanceIntent::container of that create (Endpoint mode)
};

class FakeProvider final : public Provider {
 public:
  FakeProvider(FakeProviderOptions options, const Clock& clock);

  const std::string& name() const override { return options_.name; }
  std::string_view type() const override { return "fake"; }
  UserDataSupport user_data_support() const override { return options_.user_data; }
  ProviderResult<std::vector<Offer>> offers(const OfferQuery& query) override;
  ProviderResult<Machine> create(const InstanceIntent& intent) override;
  ProviderResult<Machine> get(std::string_view pool_uid, std::string_view name) override;
  ProviderResult<std::vector<Machine>> list(const MachineFilter& filter) override;
  ProviderStatus terminate(std::string_view provider_id) override;

  // --- test controls ---
  // The next `times` calls of `method` fail with `error` (before any effect).
  void fail_next(FakeMethod method, ProviderError error, int times = 1);
  // The next `times` creates buy the machine but answer Transient, as a
  // client-side timeout after a successful create would.
  void lose_next_create_answers(int times = 1);
  // Changes an offer's capacity (-1: unlimited). Matches offer id and region.
  void set_capacity(std::string_view offer_id, std::string_view region, int capacity);
  // Endpoint machines made (or to be made) for intent `name` report
  // `port` as their public_port once running (0: back to the container's
  // port). Applies at once to a machine already running.
  void set_endpoint_port(std::string_view name, int port);
  // Marks a running machine as vanished (gone without the operator asking).
  void vanish(std::string_view provider_id);
  // Creates a machine the operator never asked for, tagged as the operator's
  // (simulates a create whose intent object was lost). Returns its id.
  std::string plant_orphan(const InstanceIntent& intent);

  // --- observations ---
  std::vector<FakeLedgerEntry> ledger() const;
  // Machines not yet ended (Pending or Running).
  int live_count() const;
  int live_count_for_pool(std::string_view pool_uid) const;
  // What the provider has billed by `now` for every machine it ever created
  // (ended machines at their final bill), egress included.
  Money total_billed(Time now) const;
  // The same for one ledger entry.
  Money billed(const FakeLedgerEntry& entry, Time now) const;
  // The earliest instant after `now` at which a machine changes state on its
  // own (a boot or a termination completing); nullopt when none will.
  std::optional<Time> next_change(Time now) const;
  // Creates refused NoCapacity by max_machines or no_capacity_rate.
  int no_capacity_refusals() const;
  int calls(FakeMethod method) const;

 private:
  struct Fault {
    ProviderError error;
    int remaining = 0;
  };
  std::optional<ProviderError> take_fault(FakeMethod method) REQUIRES(mu_);
  void refresh_locked(Time now) REQUIRES(mu_);
  int in_use_locked(const Offer& offer) const REQUIRES(mu_);
  const FakeOffer* find_offer_locked(const Offer& wanted) const REQUIRES(mu_);
  Machine view_locked(const FakeLedgerEntry& e) const REQUIRES(mu_);
  // Sets a running machine's address and (Endpoint mode) port.
  void publish_locked(FakeLedgerEntry& e) const REQUIRES(mu_);

  // Fixed after construction except offers[].capacity, which set_capacity()
  // changes and the _locked helpers read, both with mu_ held.
  FakeProviderOptions options_;
  const Clock& clock_;
  mutable Mutex mu_;
  std::vector<FakeLedgerEntry> machines_ GUARDED_BY(mu_);
  std::map<FakeMethod, Fault> faults_ GUARDED_BY(mu_);
  int lose_create_answers_ GUARDED_BY(mu_) = 0;
  std::map<FakeMethod, int> calls_ GUARDED_BY(mu_);
  int next_id_ GUARDED_BY(mu_) = 1;
  std::mt19937_64 rng_ GUARDED_BY(mu_);
  int refusals_ GUARDED_BY(mu_) = 0;
  std::map<std::string, int, std::less<>> endpoint_ports_ GUARDED_BY(mu_);  // by intent name
};

}  // namespace gpupool
