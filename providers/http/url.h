#pragma once
// Small URL helpers shared by the adapters, the SigV4 signer and the
// emulators. No I/O.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gpupool::net {

struct Url {
  std::string scheme;  // "http" / "https"
  std::string host;    // without port
  int port = 0;        // 0: scheme default
  std::string path;    // "/" when empty in the input; not decoded
  std::string query;   // raw, without '?'; not decoded

  // "host" or "host:port" as it goes into the Host header (port only when
  // it is not the scheme's default).
  std::string host_header() const;
  // scheme://host[:port]
  std::string origin() const;
};

// Parses an absolute http(s) URL. nullopt on anything malformed.
std::optional<Url> parse_url(std::string_view text);

// RFC 3986 percent-encoding: unreserved characters (A-Z a-z 0-9 - _ . ~)
// stay, everything else becomes %XX (upper-case hex). When keep_slash is true,
// '/' stays too (for paths).
std::string percent_encode(std::string_view text, bool keep_slash = false);
// Decodes %XX escapes; when plus_is_space, '+' becomes ' ' (form encoding).
// Malformed escapes are kept literally.
std::string percent_decode(std::string_view text, bool plus_is_space = false);

using Params = std::vector<std::pair<std::string, std::string>>;
// Splits "a=1&b=2" into decoded pairs, in order. A key without '=' has an
// empty value.
Params parse_query(std::string_view query, bool plus_is_space = true);
// Joins pairs as "k=v&k=v" with RFC 3986 encoding, in the given order.
std::string encode_query(const Params& params);

// Standard base64 (RFC 4648, with padding) for user data and tokens.
std::string base64_encode(std::string_view bytes);
// Decodes standard base64 (padding optional, no whitespace); nullopt on bad input.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace gpupool::net
