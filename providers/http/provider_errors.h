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

// A provider's JSON error answer of the common "code and message" kind
// ({"code": ..., "message": ...}, or inside an object such as Lambda's
// {"error": {...}}), read the one way every adapter's error mapper reads it.
struct CodedError {
  std::string code;       // the code field; "" when absent (or not asked for)
  std::string message;    // the message field; "unreadable error answer: <excerpt>"
                          // when neither field reads
  std::string text;       // "<code>: <message>", or the message alone
  std::string described;  // "HTTP <status>: <text>": the ProviderError's message
};
// `code_field` nullptr: the provider's errors carry a message only.
// `within`: the field holding the object the two fields sit in (nullptr:
// the top level).
CodedError read_coded_error(int status, std::string_view body, const char* code_field,
                            const char* message_field, const char* within = nullptr);

// The first `max_chars` of a body, for error messages (already redacted).
std::string body_excerpt(std::string_view body, size_t max_chars = 200);

// A price read from a provider's JSON number: nullopt for NaN, infinities,
// negative values and anything above max_dollars (a garbled or hostile answer
// must not become an offer).
std::optional<Money> price_from_double(double dollars, double max_dollars = 100'000.0);

}  // namespace gpupool::net
