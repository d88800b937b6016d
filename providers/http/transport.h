#pragma once
// The HTTP seam every provider adapter talks through. HttpTransport sends one
// request and returns one response (or a transport-level failure); it does not
// retry, throttle or log. HttpClient (client.h) adds those on top. Two
// implementations: CurlTransport (curl_transport.h) for real traffic and
// FakeTransport (fake_transport.h) for unit tests.

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "operator/base/result.h"

namespace gpupool::net {

using Headers = std::vector<std::pair<std::string, std::string>>;

// First value of header `name` (case-insensitive), or "" when absent.
std::string_view find_header(const Headers& headers, std::string_view name);
bool iequals(std::string_view a, std::string_view b);

struct Request {
  std::string method = "GET";  // GET, POST, PUT, DELETE, PATCH
  std::string url;             // absolute: scheme://host[:port]/path?query
  Headers headers;
  std::string body;
  // Whether sending this request twice is harmless (GET, DELETE, a POST with
  // an idempotency token). Non-idempotent requests are retried only when the
  // request certainly never reached the server (connect failure) or the server
  // refused it unprocessed (429).
  bool idempotent = true;
};

struct Response {
  int status = 0;
  Headers headers;
  std::string body;
};

enum class TransportErrorKind {
  Connect,  // could not resolve or connect: the request was never sent
  Timeout,  // no complete answer in time: the outcome is unknown
  Tls,      // TLS handshake or certificate verification failed
  Broken,   // connection dropped mid-exchange: the outcome is unknown
  Invalid,  // the request itself is malformed (bad URL, bad method)
};

std::string_view to_string(TransportErrorKind kind);

struct TransportError {
  TransportErrorKind kind = TransportErrorKind::Broken;
  std::string message;  // never contains request headers or bodies
};

using TransportResult = Result<Response, TransportError>;

class HttpTransport {
 public:
  virtual ~HttpTransport() = default;
  // Sends one request. Any HTTP status is a success at this layer.
  // Thread-safe in every implementation.
  virtual TransportResult send(const Request& request) = 0;
};

}  // namespace gpupool::net
