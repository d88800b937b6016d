#include "providers/fake/fake_provider.h"

#include <algorithm>

#include "operator/core/billing.h"
#include "operator/core/planner.h"
#include "providers/container/container_start_script.h"

namespace gpupool {

namespace {

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return v.empty() || std::find(v.begin(), v.end(), s) != v.end();
}

bool is_live(MachineState s) {
  return s == MachineState::Pending || s == MachineState::Running;
}

}  // namespace

FakeProvider::FakeProvider(FakeProviderOptions options, const Clock& clock)
    : options_(std::move(options)), clock_(clock), rng_(options_.seed) {
  for (auto& o : options_.offers) {
    if (o.offer.provider.empty()) o.offer.provider = options_.name;
    if (o.offer.provider_type.empty()) o.offer.provider_type = "fake";
  }
}

std::optional<ProviderError> FakeProvider::take_fault(FakeMethod method) {
  ++calls_[method];
  auto it = faults_.find(method);
  if (it == faults_.end() || it->second.remaining <= 0) return std::nullopt;
  --it->second.remaining;
  ProviderError e = it->second.error;
  if (it->second.remaining == 0) faults_.erase(it);
  return e;
}

void FakeProvider::refresh_locked(Time now) {
  for (auto& m : machines_) {
    auto& state = m.machine.state;
    if (state == MachineState::Pending && now >= m.launched + options_.boot_delay) {
      state = MachineState::Running;
      publish_locked(m);
    }
    if (state == MachineState::Terminating && m.ended &&
        now >= *m.ended + options_.terminate_delay) {
      state = MachineState::Terminated;
    }
  }
}

int FakeProvider::in_use_locked(const Offer& offer) const {
  return static_cast<int>(std::count_if(machines_.begin(), machines_.end(), [&](const auto& m) {
    return is_live(m.machine.state) && m.machine.offer_id == offer.id &&
           m.machine.region == offer.region;
  }));
}

const FakeOffer* FakeProvider::find_offer_locked(const Offer& wanted) const {
  for (const auto& o : options_.offers) {
    if (o.offer.id == wanted.id && o.offer.region == wanted.region) return &o;
  }
  return nullptr;
}

void FakeProvider::publish_locked(FakeLedgerEntry& e) const {
  if (e.container.image.empty()) {
    e.machine.public_address = "198.51.100." + std::to_string(e.machine.provider_id.size() % 250);
    return;
  }
  e.machine.public_address = options_.endpoint_address;
  auto it = endpoint_ports_.find(e.machine.name);
  e.machine.public_port =
      it != endpoint_ports_.end() && it->second > 0 ? it->second : e.container.port;
}

void FakeProvider::set_endpoint_port(std::string_view name, int port) {
  MutexLock lock(mu_);
  endpoint_ports_[std::string(name)] = port;
  for (auto& m : machines_) {
    if (m.machine.name == name && m.machine.state == MachineState::Running) publish_locked(m);
  }
}

Machine FakeProvider::view_locked(const FakeLedgerEntry& e) const {
  return e.machine;
}

ProviderResult<std::vector<Offer>> FakeProvider::offers(const OfferQuery& query) {
  MutexLock lock(mu_);
  if (auto f = take_fault(FakeMethod::Offers)) return fail(*f);
  refresh_locked(clock_.now());
  std::vector<Offer> out;
  for (const auto& o : options_.offers) {
    const Offer& offer = o.offer;
    if (!contains(query.gpu_models, offer.gpu_model) || !contains(query.regions, offer.region)) {
      continue;
    }
    if (offer.gpu_count < query.min_gpu_count ||
        (query.max_gpu_count > 0 && offer.gpu_count > query.max_gpu_count)) {
      continue;
    }
    if ((offer.spot && !query.include_spot) ||
        (offer.tier == ReliabilityTier::Community && !query.include_community)) {
      continue;
    }
    Offer copy = offer;
    copy.capacity_hint = o.capacity < 0 ? -1 : std::max(0, o.capacity - in_use_locked(offer));
    copy.source = "live";
    copy.as_of = clock_.now();
    out.push_back(std::move(copy));
  }
  return out;
}

ProviderResult<Machine> FakeProvider::create(const InstanceIntent& intent) {
  MutexLock lock(mu_);
  if (auto f = take_fault(FakeMethod::Create)) return fail(*f);
  const Time now = clock_.now();
  refresh_locked(now);
  if (intent.name.empty()) {
    return fail(provider_error(ProviderErrorKind::InvalidRequest, "intent has no name"));
  }
  for (const auto& m : machines_) {
    if (m.pool_uid == intent.pool_uid && m.machine.name == intent.name) return view_locked(m);
  }
  if (auto ok = container::check_container(intent, "create"); !ok.ok()) return fail(ok.error());
  const FakeOffer* offer = find_offer_locked(intent.offer);
  if (offer == nullptr) {
    return fail(provider_error(ProviderErrorKind::InvalidRequest,
                               "unknown offer " + intent.offer.id + " in " + intent.offer.region));
  }
  if (offer->capacity >= 0 && in_use_locked(offer->offer) >= offer->capacity) {
    return fail(
        provider_error(ProviderErrorKind::NoCapacity,
                       "offer " + offer->offer.id + " in " + offer->offer.region + " is sold out"));
  }
  if (options_.max_machines >= 0) {
    const auto live = std::count_if(machines_.begin(), machines_.end(),
                                    [](const auto& m) { return is_live(m.machine.state); });
    if (live >= options_.max_machines) {
      ++refusals_;
      return fail(provider_error(ProviderErrorKind::NoCapacity,
                                 options_.name + " runs at most " +
                                     std::to_string(options_.max_machines) + " machines at once"));
    }
  }
  if (options_.no_capacity_rate > 0) {
    const double draw = std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
    if (draw < options_.no_capacity_rate) {
      ++refusals_;
      return fail(provider_error(ProviderErrorKind::NoCapacity, "offer " + offer->offer.id +
                                                                    " in " + offer->offer.region +
                                                                    " has no capacity right now"));
    }
  }
  FakeLedgerEntry e;
  e.machine.provider_id = options_.name + "-" + std::to_string(next_id_++);
  e.machine.name = intent.name;
  e.machine.state =
      options_.boot_delay.count() == 0 ? MachineState::Running : MachineState::Pending;
  e.machine.region = offer->offer.region;
  e.machine.offer_id = offer->offer.id;
  e.machine.gpu_model = offer->offer.gpu_model;
  e.machine.gpu_count = offer->offer.gpu_count;
  e.machine.price_per_hour = offer->offer.price_per_hour;
  e.machine.launch_time = now;
  e.machine.provider_state = "created";
  e.machine.tags = intent.labels;
  e.machine.tags[std::string(kTagManagedBy)] = std::string(kTagManagedByValue);
  e.machine.tags[std::string(kTagPoolUid)] = intent.pool_uid;
  e.machine.tags[std::string(kTagPool)] = intent.pool_namespace + "/" + intent.pool_name;
  e.machine.tags[std::string(kTagInstance)] = intent.name;
  e.pool_uid = intent.pool_uid;
  e.user_data = intent.user_data;
  e.container = intent.container;
  if (e.machine.state == MachineState::Running && !e.container.image.empty()) publish_locked(e);
  e.offer_key = planner::offer_key(offer->offer);
  e.billing = offer->offer.billing;
  e.launched = now;
  machines_.push_back(e);
  if (lose_create_answers_ > 0) {
    --lose_create_answers_;
    return fail(
        provider_error(ProviderErrorKind::Transient, "timed out waiting for the create answer"));
  }
  return view_locked(e);
}

ProviderResult<Machine> FakeProvider::get(std::string_view pool_uid, std::string_view name) {
  MutexLock lock(mu_);
  if (auto f = take_fault(FakeMethod::Get)) return fail(*f);
  refresh_locked(clock_.now());
  for (auto it = machines_.rbegin(); it != machines_.rend(); ++it) {
    if (it->pool_uid == pool_uid && it->machine.name == name) return view_locked(*it);
  }
  return fail(provider_error(ProviderErrorKind::NotFound, "no machine named " + std::string(name)));
}

ProviderResult<std::vector<Machine>> FakeProvider::list(const MachineFilter& filter) {
  MutexLock lock(mu_);
  if (auto f = take_fault(FakeMethod::List)) return fail(*f);
  refresh_locked(clock_.now());
  std::vector<Machine> out;
  for (const auto& m : machines_) {
    if (!filter.pool_uid.empty() && m.pool_uid != filter.pool_uid) continue;
    if (!filter.include_terminated && m.machine.state == MachineState::Terminated) continue;
    out.push_back(view_locked(m));
  }
  return out;
}

ProviderStatus FakeProvider::terminate(std::string_view provider_id) {
  MutexLock lock(mu_);
  if (auto f = take_fault(FakeMethod::Terminate)) return fail(*f);
  const Time now = clock_.now();
  refresh_locked(now);
  for (auto& m : machines_) {
    if (m.machine.provider_id != provider_id) continue;
    if (m.machine.state == MachineState::Terminated || m.machine.state == MachineState::Failed) {
      return fail(provider_error(ProviderErrorKind::NotFound,
                                 "machine " + std::string(provider_id) + " is gone"));
    }
    if (m.machine.state != MachineState::Terminating) {
      m.ended = now;
      m.machine.state = MachineState::Terminating;
      m.machine.provider_state = "terminating";
      refresh_locked(now);
    }
    return {};
  }
  return fail(
      provider_error(ProviderErrorKind::NotFound, "no machine " + std::string(provider_id)));
}

void FakeProvider::fail_next(FakeMethod method, ProviderError error, int times) {
  MutexLock lock(mu_);
  faults_[method] = Fault{std::move(error), times};
}

void FakeProvider::lose_next_create_answers(int times) {
  MutexLock lock(mu_);
  lose_create_answers_ = times;
}

void FakeProvider::set_capacity(std::string_view offer_id, std::string_view region, int capacity) {
  MutexLock lock(mu_);
  for (auto& o : options_.offers) {
    if (o.offer.id == offer_id && o.offer.region == region) o.capacity = capacity;
  }
}

void FakeProvider::vanish(std::string_view provider_id) {
  MutexLock lock(mu_);
  const Time now = clock_.now();
  for (auto& m : machines_) {
    if (m.machine.provider_id == provider_id && is_live(m.machine.state)) {
      m.machine.state = MachineState::Terminated;
      m.machine.provider_state = "vanished";
      m.ended = now;
    }
  }
}

std::string FakeProvider::plant_orphan(const InstanceIntent& intent) {
  lose_next_create_answers(0);
  auto made = create(intent);
  MutexLock lock(mu_);
  --calls_[FakeMethod::Create];  // not an operator call
  return made.ok() ? made->provider_id : std::string();
}

std::vector<FakeLedgerEntry> FakeProvider::ledger() const {
  MutexLock lock(mu_);
  return machines_;
}

int FakeProvider::live_count() const {
  MutexLock lock(mu_);
  return static_cast<int>(std::count_if(machines_.begin(), machines_.end(),
                                        [](const auto& m) { return is_live(m.machine.state); }));
}

int FakeProvider::live_count_for_pool(std::string_view pool_uid) const {
  MutexLock lock(mu_);
  return static_cast<int>(std::count_if(machines_.begin(), machines_.end(), [&](const auto& m) {
    return m.pool_uid == pool_uid && is_live(m.machine.state);
  }));
}

Money FakeProvider::billed(const FakeLedgerEntry& m, Time now) const {
  const Time end = m.ended ? std::min(*m.ended, now) : now;
  Money total = billing::committed(m.billing, m.machine.price_per_hour, m.launched, end);
  if (options_.egress_gb_per_gpu_hour > 0 && end > m.launched) {
    total +=
        billing::egress_per_hour(m.billing, options_.egress_gb_per_gpu_hour, m.machine.gpu_count)
            .for_duration(end - m.launched);
  }
  return total;
}

Money FakeProvider::total_billed(Time now) const {
  MutexLock lock(mu_);
  Money total;
  for (const auto& m : machines_)
    total += billed(m, now);
  return total;
}

std::optional<Time> FakeProvider::next_change(Time now) const {
  MutexLock lock(mu_);
  std::optional<Time> next;
  auto consider = [&](Time t) {
    if (t > now && (!next || t < *next)) next = t;
  };
  for (const auto& m : machines_) {
    if (m.machine.state == MachineState::Pending) consider(m.launched + options_.boot_delay);
    if (m.machine.state == MachineState::Terminating && m.ended) {
      consider(*m.ended + options_.terminate_delay);
    }
  }
  return next;
}

int FakeProvider::no_capacity_refusals() const {
  MutexLock lock(mu_);
  return refusals_;
}

int FakeProvider::calls(FakeMethod method) const {
  MutexLock lock(mu_);
  auto it = calls_.find(method);
  return it == calls_.end() ? 0 : it->second;
}

}  // namespace gpupool
