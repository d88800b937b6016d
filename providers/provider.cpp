#include "providers/provider.h"

#include "operator/base/utf8.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <regex>
#include <string>
#include <utility>

namespace gpupool {

std::string_view to_string(ProviderErrorKind kind) {
  switch (kind) {
    case ProviderErrorKind::NoCapacity:
      return "NoCapacity";
    case ProviderErrorKind::QuotaExceeded:
      return "QuotaExceeded";
    case ProviderErrorKind::RateLimited:
      return "RateLimited";
    case ProviderErrorKind::Unauthorized:
      return "Unauthorized";
    case ProviderErrorKind::InvalidRequest:
      return "InvalidRequest";
    case ProviderErrorKind::Transient:
      return "Transient";
    case ProviderErrorKind::NotFound:
      return "NotFound";
  }
  return "Unknown";
}

bool ProviderError::retryable() const {
  return kind == ProviderErrorKind::RateLimited || kind == ProviderErrorKind::Transient;
}

std::string describe(const ProviderError& e) {
  std::string out(to_string(e.kind));
  if (!e.message.empty()) {
    out += ": ";
    out += e.message;
  }
  return out;
}

ProviderError provider_error(ProviderErrorKind kind, std::string message) {
  ProviderError e;
  e.kind = kind;
  // Messages quote provider answers and end up in conditions and Events,
  // which are JSON: a stray byte must not make their encoding throw.
  e.message = invalid_utf8_at(message) == std::string_view::npos ? std::move(message)
                                                                 : to_valid_utf8(message);
  return e;
}

ProviderError rate_limited(std::string message, std::chrono::milliseconds retry_after) {
  ProviderError e = provider_error(ProviderErrorKind::RateLimited, std::move(message));
  e.retry_after = retry_after;
  return e;
}

std::string_view to_string(UserDataSupport s) {
  switch (s) {
    case UserDataSupport::None:
      return "None";
    case UserDataSupport::Script:
      return "Script";
    case UserDataSupport::CloudInit:
      return "CloudInit";
  }
  return "None";
}

UserDataSupport user_data_support_of_type(std::string_view type) {
  for (std::string_view t :
       {"aws", "lambda", "verda", "digitalocean", "scaleway", "vultr", "fake"}) {
    if (type == t) return UserDataSupport::CloudInit;
  }
  if (type == "vastai") return UserDataSupport::Script;
  return UserDataSupport::None;  // runpod, fluence, and types without an adapter
}

bool runs_user_data(UserDataSupport support, std::string_view user_data) {
  switch (support) {
    case UserDataSupport::None:
      return false;
    case UserDataSupport::CloudInit:
      return true;
    case UserDataSupport::Script:
      // A shell runs anything but the documents only cloud-init reads.
      for (std::string_view header : {"#cloud-config", "#cloud-boothook", "#include",
                                      "#part-handler", "#upstart-job", "Content-Type:"}) {
        if (user_data.substr(0, header.size()) == header) return false;
      }
      return true;
  }
  return false;
}

std::string_view to_string(MachineState state) {
  switch (state) {
    case MachineState::Pending:
      return "Pending";
    case MachineState::Running:
      return "Running";
    case MachineState::Terminating:
      return "Terminating";
    case MachineState::Terminated:
      return "Terminated";
    case MachineState::Failed:
      return "Failed";
    case MachineState::Unknown:
      return "Unknown";
  }
  return "Unknown";
}

ProviderResult<std::string> secret_value(const std::map<std::string, std::string>& data,
                                         const std::map<std::string, std::string>& key_names,
                                         std::string_view logical, bool required) {
  auto mapped = key_names.find(std::string(logical));
  std::string key =
      mapped != key_names.end() && !mapped->second.empty() ? mapped->second : std::string(logical);
  auto it = data.find(key);
  if (it == data.end() || it->second.empty()) {
    if (!required) return std::string();
    return fail(provider_error(ProviderErrorKind::Unauthorized,
                               "credential '" + std::string(logical) +
                                   "' is missing: the Secret has no non-empty key '" + key + "'"));
  }
  return it->second;
}

std::string Machine::pool_uid() const {
  auto it = tags.find(std::string(kTagPoolUid));
  return it == tags.end() ? std::string() : it->second;
}

std::vector<Machine> owned_machines(std::vector<Machine> all, const MachineFilter& filter,
                                    bool require_managed_tag) {
  std::vector<Machine> out;
  for (auto& m : all) {
    const std::string uid = m.pool_uid();
    if (uid.empty()) continue;
    if (require_managed_tag) {
      auto managed = m.tags.find(std::string(kTagManagedBy));
      if (managed == m.tags.end() || managed->second != kTagManagedByValue) continue;
    }
    if (!filter.pool_uid.empty() && uid != filter.pool_uid) continue;
    if (!filter.include_terminated && is_gone(m.state)) continue;
    out.push_back(std::move(m));
  }
  return out;
}

ProviderResult<std::vector<Machine>> owned_machines(ProviderResult<std::vector<Machine>> all,
                                                    const MachineFilter& filter,
                                                    bool require_managed_tag) {
  if (!all.ok()) return fail(all.error());
  return owned_machines(std::move(all).value(), filter, require_managed_tag);
}

ProviderResult<Machine> machine_named(const ProviderResult<std::vector<Machine>>& all,
                                      std::string_view pool_uid, std::string_view name,
                                      bool live_only, std::string_view what) {
  if (!all.ok()) return fail(all.error());
  return machine_named(all.value(), pool_uid, name, live_only, what);
}

ProviderResult<Machine> machine_named(const std::vector<Machine>& all, std::string_view pool_uid,
                                      std::string_view name, bool live_only,
                                      std::string_view what) {
  const Machine* best = nullptr;
  for (const auto& m : all) {
    if (m.pool_uid() != pool_uid || m.name != name) continue;
    if (live_only && is_gone(m.state)) continue;
    if (best == nullptr || (is_gone(best->state) && !is_gone(m.state))) best = &m;
  }
  if (best == nullptr) {
    return fail(provider_error(ProviderErrorKind::NotFound,
                               "no " + std::string(what) + " for " + std::string(name)));
  }
  return *best;
}

ProviderResult<Machine> machine_tagged(const ProviderResult<std::vector<Machine>>& all,
                                       std::string_view key, std::string_view value,
                                       std::string_view what) {
  if (!all.ok()) return fail(all.error());
  const Machine* best = nullptr;
  for (const auto& m : all.value()) {
    auto tag = m.tags.find(std::string(key));
    if (tag == m.tags.end() || tag->second != value) continue;
    if (best == nullptr || (is_gone(best->state) && !is_gone(m.state))) best = &m;
  }
  if (best == nullptr) {
    return fail(provider_error(ProviderErrorKind::NotFound,
                               "no " + std::string(what) + " named " + std::string(value)));
  }
  return *best;
}

bool matches(const Offer& offer, const OfferQuery& query) {
  auto allowed = [](const std::vector<std::string>& list, const std::string& x) {
    return list.empty() || std::find(list.begin(), list.end(), x) != list.end();
  };
  // Models compare case-insensitively, as the planner compares them, so a pool
  // that writes "l40s" asks for the same offers it would be planned on.
  const auto same_model = [&](const std::string& m) {
    return std::equal(m.begin(), m.end(), offer.gpu_model.begin(), offer.gpu_model.end(),
                      [](char a, char b) {
                        return std::tolower(static_cast<unsigned char>(a)) ==
                               std::tolower(static_cast<unsigned char>(b));
                      });
  };
  if (!query.gpu_models.empty() &&
      std::none_of(query.gpu_models.begin(), query.gpu_models.end(), same_model)) {
    return false;
  }
  if (!allowed(query.regions, offer.region)) return false;
  if (offer.gpu_count < query.min_gpu_count) return false;
  if (query.max_gpu_count > 0 && offer.gpu_count > query.max_gpu_count) return false;
  if (offer.spot && !query.include_spot) return false;
  if (offer.tier == ReliabilityTier::Community && !query.include_community) return false;
  return true;
}

bool region_has_form(std::string_view provider_type, std::string_view region) {
  // One pattern per adapter type: the form its offers' regions take.
  static const std::map<std::string, std::regex, std::less<>> forms = [] {
    std::map<std::string, std::regex, std::less<>> m;
    m.emplace("aws", std::regex("[a-z]{2}(-gov)?-[a-z]+-[0-9]+"));
    m.emplace("lambda", std::regex("[a-z]+-[a-z]+-[0-9]+"));
    m.emplace("fluence", std::regex("[a-z]+(-[a-z]+)*-[0-9]+"));
    m.emplace("runpod", std::regex("[A-Z]{2,3}(-[A-Z]{2,3})+-[0-9]+"));
    m.emplace("vastai", std::regex("[A-Z]{2}"));
    m.emplace("verda", std::regex("[A-Z]{3}-[0-9]{2}"));
    m.emplace("digitalocean", std::regex("[a-z]{3}[0-9]"));
    m.emplace("scaleway", std::regex("[a-z]{2}-[a-z]{3}-[0-9]+"));
    m.emplace("vultr", std::regex("[a-z]{3}"));
    return m;
  }();
  if (region.empty()) return false;
  auto form = forms.find(provider_type);
  if (form == forms.end()) return true;
  return std::regex_match(region.begin(), region.end(), form->second);
}

}  // namespace gpupool
