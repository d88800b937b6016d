#pragma once
// Mapping HTTP-level outcomes onto the Provider error kinds, shared by every
// adapter so they agree on what a timeout or a 403 means. Adapters first look
// at the provider's own error codes and fall back to these.

#include <exception>
#include <optional>
#include <string>
#include <string_view>

#include "providers/http/client.h"
#include "providers/provider.h"

namespace gpupool::net {

// Connect failures, timeouts and broken connections are Transient (for a
// create the outcome is unknown: look the machine up before trying again);
// TLS failures and malformed requests are InvalidRequest (configuration,
// retrying does not help). `what` names the call ("RunInstances").
ProviderError transport_failure(const TransportError& error, std::string_view what);

// By status alone: 401/403 Unauthorized, 404 NotFound, 429 RateLimited
// (with retry_after), 5xx Transient, other 4xx InvalidRequest.
ProviderError status_failure(int status, const std::string& message, Millis retry_after);

// A 2xx answer the adapter could not read (provider.h: Transient; the same
// call usually works): "<what>: unreadable answer (<why>)", `why` being the
// parser's or field reader's exception.
ProviderError unreadable_answer(std::string_view what, const std::exception& why);

// The first `max_chars` of a body, for error messages (already redacted).
std::string body_excerpt(std::string_view body, size_t max_chars = 200);

// A price read from a provider's JSON number: nullopt for NaN, infinities,
// negative values and anything above max_dollars (a garbled or hostile answer
// must not become an offer).
std::optional<Money> price_from_double(double dollars, double max_dollars = 100'000.0);

}  // namespace gpupool::net
