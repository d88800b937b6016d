#include "providers/http/provider_errors.h"

#include <cmath>

#include "providers/http/redact.h"

namespace gpupool::net {

ProviderError transport_failure(const TransportError& error, std::string_view what) {
  std::string prefix = std::string(what) + ": ";
  switch (error.kind) {
    case TransportErrorKind::Connect:
      return provider_error(ProviderErrorKind::Transient,
                            prefix + "cannot reach the provider (" + error.message + ")");
    case TransportErrorKind::Timeout:
      return provider_error(
          ProviderErrorKind::Transient,
          prefix + "no answer in time, the outcome is unknown (" + error.message + ")");
    case TransportErrorKind::Broken:
      return provider_error(
          ProviderErrorKind::Transient,
          prefix + "connection broke, the outcome is unknown (" + error.message + ")");
    case TransportErrorKind::Tls:
      return provider_error(
          ProviderErrorKind::InvalidRequest,
          prefix + "TLS verification failed; check the endpoint and CA (" + error.message + ")");
    case TransportErrorKind::Invalid:
      return provider_error(ProviderErrorKind::InvalidRequest,
                            prefix + "invalid request (" + error.message + ")");
  }
  return provider_error(ProviderErrorKind::Transient, prefix + error.message);
}

ProviderError status_failure(int status, const std::string& message, Millis retry_after) {
  std::string m = "HTTP " + std::to_string(status) + (message.empty() ? "" : ": " + message);
  if (status == 401 || status == 403)
    return provider_error(ProviderErrorKind::Unauthorized, std::move(m));
  if (status == 404) return provider_error(ProviderErrorKind::NotFound, std::move(m));
  if (status == 429) return rate_limited(std::move(m), retry_after);
  if (status >= 500) return provider_error(ProviderErrorKind::Transient, std::move(m));
  return provider_error(ProviderErrorKind::InvalidRequest, std::move(m));
}

ProviderError unreadable_answer(std::string_view what, const std::exception& why) {
  return provider_error(ProviderErrorKind::Transient,
                        std::string(what) + ": unreadable answer (" + why.what() + ")");
}

std::string body_excerpt(std::string_view body, size_t max_chars) {
  return redact_body(body, "", max_chars);
}

std::optional<Money> price_from_double(double dollars, double max_dollars) {
  if (!std::isfinite(dollars) || dollars < 0 || dollars > max_dollars) return std::nullopt;
  return Money::from_double(dollars);
}

}  // namespace gpupool::net
