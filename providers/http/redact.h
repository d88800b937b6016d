#pragma once
// Credential redaction for request/response logging. Everything the HTTP
// layer logs passes through these functions first; they are deliberately
// over-eager (a redacted harmless value costs nothing, a leaked key costs a
// lot).
//
// What counts as a credential:
//  - headers: Authorization, Proxy-Authorization, X-API-KEY, X-Amz-Security-Token,
//    Cookie, Set-Cookie, and any header whose name contains "token", "secret",
//    "password" or "api-key";
//  - query and form parameters: X-Amz-Signature, X-Amz-Credential,
//    X-Amz-Security-Token, Signature, and any name containing password, secret,
//    token (except ClientToken / NextToken, which are not secrets), api_key,
//    apikey, access_key, or user_data / UserData (bootstrap scripts carry join
//    tokens);
//  - JSON fields whose name contains password, secret, token, key (api_key,
//    ssh_key, ...), authorization, credential, user_data / userdata or
//    onstart (Vast.ai's bootstrap script); and env, environment or any
//    name ending in _env (a container's env holds resolved Secrets).

#include <string>
#include <string_view>

#include "providers/http/transport.h"

namespace gpupool::net {

inline constexpr std::string_view kRedacted = "REDACTED";

bool is_sensitive_header(std::string_view name);
// For query/form parameter names.
bool is_sensitive_param(std::string_view name);
// For JSON object keys.
bool is_sensitive_json_field(std::string_view name);

Headers redact_headers(const Headers& headers);
// Redacts sensitive query parameter values, keeping everything else as is.
std::string redact_url(std::string_view url);
// Redacts a body for logging based on its content type: JSON fields, form
// parameters; a boot script ("#!", "#cloud-config": Scaleway's plain-text
// user_data) entirely; other bodies (XML, plain-text errors) are kept. Works on malformed JSON too
// (a textual scan, not a parse). The result is cut to max_chars with a marker.
std::string redact_body(std::string_view body, std::string_view content_type,
                        size_t max_chars = 4096);
// The JSON part of redact_body.
std::string redact_json(std::string_view body);
// The form part of redact_body.
std::string redact_form(std::string_view body);

}  // namespace gpupool::net
