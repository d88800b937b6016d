#pragma once
// The JSON-over-HTTP call every REST adapter makes, written once: check the
// credentials are there (auth), check the endpoint is a URL, send through
// the adapter's HttpClient (retries, rate limit, redacted logs), and turn a
// transport failure or a non-2xx answer into a ProviderError (the adapter's
// error mapper, the message prefixed with what was being done). An adapter
// is built from an auth function and an error mapper.
//
// Thread-safe when the HttpClient is.

#include <functional>
#include <string>
#include <string_view>

#include "providers/http/client.h"
#include "providers/provider.h"

namespace gpupool::net {

// The adapter's options with `provider` defaulted and base_url set to
// `endpoint` without trailing slashes.
ClientOptions api_client_options(ClientOptions options, std::string_view provider,
                                 std::string_view endpoint);

struct ApiSpec {
  std::string label;     // "Vultr": for messages
  std::string endpoint;  // as configured: for messages
  // The headers that authenticate a request, or Unauthorized (naming the
  // missing credential, never a value) when the credentials are missing.
  std::function<ProviderResult<Headers>()> auth;
  std::function<ProviderError(int status, std::string_view body, Millis retry_after)> map_error;
  // For credentials that expire (an OAuth access token): when set, a 401
  // answer calls it once (to fetch new credentials; its failure is the
  // request's) and the request is sent once more; a second 401 is final.
  std::function<ProviderStatus()> renew_auth = nullptr;
};

class JsonApi {
 public:
  // Keeps a reference: `client` must outlive this object.
  JsonApi(HttpClient& client, ApiSpec spec) : client_(client), spec_(std::move(spec)) {}

  // `path` is relative to the client's base_url ("/v2/instances") or an
  // absolute URL. A 2xx gives the response; anything else an error whose
  // message starts with "<what>: ". The Content-Type is sent with a body
  // (and with PATCH). A 401 renews the credentials once when the spec
  // says how (ApiSpec::renew_auth).
  ProviderResult<Response> send(const std::string& what, const std::string& method,
                                const std::string& path, const std::string& body, bool idempotent,
                                const std::string& content_type = "application/json");
  // send(), the body only.
  ProviderResult<std::string> call(const std::string& what, const std::string& method,
                                   const std::string& path, const std::string& body,
                                   bool idempotent);

 private:
  // One request; `status` receives the answer's HTTP status (0: none came).
  ProviderResult<Response> send_once(const std::string& what, const std::string& method,
                                     const std::string& path, const std::string& body,
                                     bool idempotent, const std::string& content_type, int& status);

  HttpClient& client_;
  ApiSpec spec_;
};

// auth for "<header>: <prefix><secret>"; Unauthorized `missing_message`
// when the secret is empty. Keeps its own copy of the secret.
std::function<ProviderResult<Headers>()> header_auth(std::string header, std::string prefix,
                                                     std::string secret,
                                                     std::string missing_message);
// header_auth for "Authorization: Bearer <token>".
std::function<ProviderResult<Headers>()> bearer_auth(std::string token,
                                                     std::string missing_message);

}  // namespace gpupool::net
