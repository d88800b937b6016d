#pragma once
// AWS Signature Version 4, written here (OpenSSL for SHA-256/HMAC only).
// Proven against every case of the AWS SigV4 test suite (sigv4_test.cpp).
//
// Two ways to sign: in headers (Authorization + X-Amz-Date [+ token]) and in
// the query string (presigned URL). The building blocks are public so the EC2
// emulator can verify a received request with exactly the same rules.
//
// Pure functions; thread-safe. Secrets are inputs only: nothing here logs.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "operator/clock/clock.h"
#include "providers/http/transport.h"
#include "providers/http/url.h"

namespace gpupool::aws {

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty unless STS credentials
};

struct SigningParams {
  std::string region;
  std::string service;
  Time time{};
  bool normalize_path = true;  // remove dot segments and duplicate slashes (all services but S3)
  bool sign_body = false;      // add and sign x-amz-content-sha256
  bool omit_session_token = false;  // add the token after signing (not signed)
  Duration expires{3600};           // query signing only
};

// The parts of an HTTP request that are signed. `path` and `query` are as
// they appear on the request line (query without '?'); headers must include
// Host.
struct SignableRequest {
  std::string method;
  std::string path;
  std::string query;
  net::Headers headers;
  std::string body;
};

struct SigningResult {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signature;  // lower-case hex
  // Header signing: headers to add to the request, in order
  // (X-Amz-Security-Token, X-Amz-Date, x-amz-content-sha256, Authorization).
  net::Headers added_headers;
  // Query signing: parameters to append to the query, in order.
  net::Params added_query;
};

SigningResult sign_with_headers(const SignableRequest& request, const Credentials& credentials,
                                const SigningParams& params);
SigningResult sign_with_query(const SignableRequest& request, const Credentials& credentials,
                              const SigningParams& params);

// --- building blocks -------------------------------------------------------

std::string sha256_hex(std::string_view data);
std::string hex(std::string_view bytes);
std::string hmac_sha256(std::string_view key, std::string_view data);  // raw bytes
// "20150830T123600Z" and "20150830".
std::string amz_date(Time t);
std::string amz_day(Time t);
// Parses "20150830T123600Z"; nullopt when malformed.
std::optional<Time> parse_amz_date(std::string_view text);

// Canonical URI: optionally normalised (dot segments, duplicate slashes),
// then every byte outside the unreserved set and '/' percent-encoded.
std::string canonical_uri(std::string_view path, bool normalize);
// Canonical query: decoded, re-encoded per RFC 3986, sorted by key then value.
std::string canonical_query(std::string_view raw_query);
// Canonical headers block ("name:value\n" per header, sorted) and the signed
// header list ("a;b;c") for the given headers: names lower-cased, values
// trimmed with inner whitespace runs collapsed, duplicates joined by ','.
struct CanonicalHeaders {
  std::string block;
  std::string signed_list;
};
CanonicalHeaders canonical_headers(const net::Headers& headers);

std::string canonical_request(std::string_view method, std::string_view canonical_uri,
                              std::string_view canonical_query, const CanonicalHeaders& headers,
                              std::string_view payload_hash);
std::string credential_scope(std::string_view day, std::string_view region,
                             std::string_view service);
std::string string_to_sign(std::string_view amz_date, std::string_view scope,
                           std::string_view canonical_request);
std::string signature(std::string_view secret, std::string_view day, std::string_view region,
                      std::string_view service, std::string_view string_to_sign);

// The Authorization header of a header-signed request, taken apart.
struct ParsedAuthorization {
  std::string access_key_id;
  std::string day;
  std::string region;
  std::string service;
  std::vector<std::string> signed_headers;  // lower-case, as listed
  std::string signature;
};
std::optional<ParsedAuthorization> parse_authorization(std::string_view header);

}  // namespace gpupool::aws
