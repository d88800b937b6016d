#include "providers/http/json_api.h"

#include "providers/http/provider_errors.h"
#include "providers/http/url.h"

namespace gpupool::net {

ClientOptions api_client_options(ClientOptions options, std::string_view provider,
                                 std::string_view endpoint) {
  if (options.provider.empty()) options.provider = std::string(provider);
  while (!endpoint.empty() && endpoint.back() == '/')
    endpoint.remove_suffix(1);
  options.base_url = std::string(endpoint);
  return options;
}

ProviderResult<Response> JsonApi::send(const std::string& what, const std::string& method,
                                       const std::string& path, const std::string& body,
                                       bool idempotent, const std::string& content_type) {
  int status = 0;
  auto ans = send_once(what, method, path, body, idempotent, content_type, status);
  if (ans.ok() || status != 401 || !spec_.renew_auth) return ans;
  // The credentials may have expired or been revoked: renew once, repeat once.
  auto renewed = spec_.renew_auth();
  if (!renewed.ok()) return fail(renewed.error());
  return send_once(what, method, path, body, idempotent, content_type, status);
}

ProviderResult<Response> JsonApi::send_once(const std::string& what, const std::string& method,
                                            const std::string& path, const std::string& body,
                                            bool idempotent, const std::string& content_type,
                                            int& status) {
  auto auth = spec_.auth();
  if (!auth.ok()) return fail(auth.error());
  const std::string full = path.starts_with("/") ? client_.options().base_url + path : path;
  if (!parse_url(full)) {
    return fail(provider_error(ProviderErrorKind::InvalidRequest,
                               "invalid " + spec_.label + " endpoint '" + spec_.endpoint + "'"));
  }
  Request req;
  req.method = method;
  req.url = path;
  req.headers = std::move(*auth);
  req.headers.emplace_back("Accept", "application/json");
  if (!body.empty() || method == "PATCH") req.headers.emplace_back("Content-Type", content_type);
  req.body = body;
  req.idempotent = idempotent;
  Outcome out = client_.send(std::move(req));
  if (!out.ok()) return fail(transport_failure(*out.error, what));
  status = out.response->status;
  if (out.response->status < 200 || out.response->status >= 300) {
    ProviderError e = spec_.map_error(out.response->status, out.response->body, out.retry_after);
    e.message = what + ": " + e.message;
    return fail(e);
  }
  return std::move(*out.response);
}

ProviderResult<std::string> JsonApi::call(const std::string& what, const std::string& method,
                                          const std::string& path, const std::string& body,
                                          bool idempotent) {
  auto r = send(what, method, path, body, idempotent);
  if (!r.ok()) return fail(r.error());
  return std::move(r->body);
}

std::function<ProviderResult<Headers>()> header_auth(std::string header, std::string prefix,
                                                     std::string secret,
                                                     std::string missing_message) {
  return [header = std::move(header), prefix = std::move(prefix), secret = std::move(secret),
          missing = std::move(missing_message)]() -> ProviderResult<Headers> {
    if (secret.empty()) return fail(provider_error(ProviderErrorKind::Unauthorized, missing));
    return Headers{{header, prefix + secret}};
  };
}

std::function<ProviderResult<Headers>()> bearer_auth(std::string token,
                                                     std::string missing_message) {
  return header_auth("Authorization", "Bearer ", std::move(token), std::move(missing_message));
}

}  // namespace gpupool::net
