#include "providers/provider.h"

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
  e.message = std::move(message);
  return e;
}

ProviderError rate_limited(std::string message, std::chrono::milliseconds retry_after) {
  ProviderError e = provider_error(ProviderErrorKind::RateLimited, std::move(message));
  e.retry_after = retry_after;
  return e;
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

}  // namespace gpupool
