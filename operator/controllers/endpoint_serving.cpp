#include "operator/controllers/endpoint_serving.h"

#include <map>

#include "operator/core/endpoint_health.h"
#include "providers/http/url.h"

namespace gpupool::controllers {
namespace {

using kube::Json;

ContainerError config_error(std::string reason, std::string message) {
  ContainerError e;
  e.reason = std::move(reason);
  e.message = std::move(message);
  return e;
}

// The value of `ref` for variable `var`, reading each Secret once per call.
Result<std::string, ContainerError> secret_value(kube::KubeApi& api, const std::string& ns,
                                                 const std::string& var,
                                                 const api::SecretKeyRef& ref,
                                                 std::map<std::string, Json>& read) {
  const std::string where = "env " + var + ": Secret " + ns + "/" + ref.name;
  auto it = read.find(ref.name);
  if (it == read.end()) {
    auto secret = api.get(kube::resources::kSecrets, ns, ref.name);
    if (!secret.ok()) {
      if (secret.error().kind == kube::ErrorKind::NotFound) {
        return fail(config_error("SecretNotFound", where + " does not exist"));
      }
      ContainerError e;
      e.kind = ContainerError::Kind::Api;
      e.reason = "SecretUnreadable";
      e.message = "reading " + where + ": " + secret.error().message;
      e.api = secret.error();
      return fail(std::move(e));
    }
    it = read.emplace(ref.name, std::move(secret).value()).first;
  }
  const Json& s = it->second;
  const Json* data = s.contains("data") && s["data"].is_object() ? &s["data"] : nullptr;
  if (!data || !data->contains(ref.key) || !(*data)[ref.key].is_string()) {
    return fail(config_error("SecretKeyNotFound", where + " has no key \"" + ref.key + "\""));
  }
  auto value = net::base64_decode((*data)[ref.key].get<std::string>());
  if (!value) {
    return fail(
        config_error("SecretValueInvalid", where + " key \"" + ref.key + "\" is not valid base64"));
  }
  return std::move(*value);
}

}  // namespace

Result<ContainerSpec, ContainerError> endpoint_container(kube::KubeApi& api,
                                                         const std::string& namespace_,
                                                         const api::EndpointUsage& ep) {
  ContainerSpec c;
  c.image = ep.image;
  c.port = ep.port;
  c.args = ep.args;
  c.disk_gb = ep.disk_gb.value_or(0);
  std::map<std::string, Json> read;
  for (const api::EnvVar& v : ep.env) {
    if (!v.value_from) {
      c.env[v.name] = v.value.value_or("");
      continue;
    }
    auto value = secret_value(api, namespace_, v.name, v.value_from->secret_key_ref, read);
    if (!value.ok()) return fail(value.error());
    c.env[v.name] = std::move(value).value();
  }
  return c;
}

bool record_address(api::GpuInstanceStatus& st, const Machine& m) {
  const api::GpuInstanceStatus before = st;
  if (!m.public_address.empty()) st.address = m.public_address;
  if (m.public_port > 0 && m.public_port <= 65535) st.port = m.public_port;
  st.endpoint = health::endpoint_url(st.address, st.port);
  return !(st.address == before.address && st.port == before.port &&
           st.endpoint == before.endpoint);
}

}  // namespace gpupool::controllers
