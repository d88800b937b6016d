#include "providers/http/provider_errors.h"

#include <cmath>

#include <nlohmann/json.hpp>

#include "providers/http/json_fields.h"
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

CodedError read_coded_error(int status, std::string_view body, const char* code_field,
                            const char* message_field, const char* within) {
  CodedError e;
  const nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_discarded() && j.is_object()) {
    const nlohmann::json* fields = &j;
    if (within != nullptr) {
      auto it = j.find(within);
      fields = it != j.end() && it->is_object() ? &*it : nullptr;
    }
    if (fields != nullptr) {
      if (code_field != nullptr) e.code = json_str(*fields, code_field);
      e.message = json_str(*fields, message_field);
    }
  }
  if (e.code.empty() && e.message.empty())
    e.message = "unreadable error answer: " + body_excerpt(body);
  e.text = e.code + (e.code.empty() ? "" : ": ") + e.message;
  e.described = "HTTP " + std::to_string(status) + ": " + e.text;
  return e;
}

}  // namespace gpupool::net
