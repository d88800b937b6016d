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

std::string Machine::pool_uid() const {
  auto it = tags.find(std::string(kTagPoolUid));
  return it == tags.end() ? std::string() : it->second;
}

}  // namespace gpupool
