#include "operator/controllers/bootstrap.h"

#include <sys/random.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>

#include "operator/controllers/node_registration.h"
#include "operator/core/bootstrap_template.h"
#include "providers/http/url.h"

namespace gpupool::controllers {
namespace {

using kube::Json;

constexpr std::string_view kTokenAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
constexpr int kTokenIdLength = 6;
constexpr int kTokenSecretLength = 16;
constexpr int kCreateAttempts = 4;  // token ids that happened to be taken

BootstrapError template_error(std::string message) {
  return {BootstrapError::Kind::Template, std::move(message), {}};
}
BootstrapError api_error(const kube::ApiError& e, const std::string& what) {
  return {BootstrapError::Kind::Api, what + ": " + std::string(kube::to_string(e.kind)), e};
}

// `n` characters of [a-z0-9] from the kernel's CSPRNG, without modulo bias.
std::string random_token_part(int n) {
  std::string out;
  unsigned char buf[64];
  while (static_cast<int>(out.size()) < n) {
    const ssize_t got = getrandom(buf, sizeof buf, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      std::abort();  // no entropy source: never fall back to a guessable token
    }
    for (ssize_t i = 0; i < got && static_cast<int>(out.size()) < n; ++i) {
      if (buf[i] >= 252) continue;  // 252 = 7 * 36
      out += kTokenAlphabet[buf[i] % kTokenAlphabet.size()];
    }
  }
  return out;
}

std::string token_selector(const std::string& instance_name, const std::string& pool_uid) {
  return std::string(kLabelInstance) + "=" + instance_name + "," + decision::kLabelPoolUid + "=" +
         pool_uid;
}

// The token "<id>.<secret>" a bootstrap token Secret holds, or "" when it
// is not one of ours in the expected form.
std::string token_of(const Json& secret) {
  if (secret.value("type", "") != kBootstrapTokenType) return "";
  const Json* data =
      secret.contains("data") && secret["data"].is_object() ? &secret["data"] : nullptr;
  if (!data || !data->contains("token-id") || !data->contains("token-secret")) return "";
  if (!(*data)["token-id"].is_string() || !(*data)["token-secret"].is_string()) return "";
  auto id = net::base64_decode((*data)["token-id"].get<std::string>());
  auto sec = net::base64_decode((*data)["token-secret"].get<std::string>());
  if (!id || !sec || id->size() != kTokenIdLength || sec->size() != kTokenSecretLength) return "";
  return *id + "." + *sec;
}

Json token_secret(const api::GpuInstance& inst, const std::string& pool_uid, const std::string& id,
                  const std::string& secret, Time expiration) {
  auto b64 = [](std::string_view v) { return net::base64_encode(v); };
  return {
      {"apiVersion", "v1"},
      {"kind", "Secret"},
      {"metadata",
       {{"name", "bootstrap-token-" + id},
        {"namespace", kBootstrapTokenNamespace},
        {"labels",
         {{kLabelInstance, inst.metadata.name},
          {decision::kLabelPoolUid, pool_uid},
          {"app.kubernetes.io/managed-by", kComponent}}},
        {"annotations", {{"gpupool.io/pool", inst.metadata.namespace_ + "/" + inst.spec.pool}}}}},
      {"type", kBootstrapTokenType},
      {"data",
       {{"description", b64("gpupool-operator: registers the Node of GpuInstance " +
                            inst.metadata.namespace_ + "/" + inst.metadata.name)},
        {"token-id", b64(id)},
        {"token-secret", b64(secret)},
        {"expiration", b64(format_rfc3339(expiration))},
        {"usage-bootstrap-authentication", b64("true")},
        {"usage-bootstrap-signing", b64("true")},
        {"auth-extra-groups", b64(kBootstrapTokenGroup)}}}};
}

struct Token {
  std::string secret_name;
  std::string value;  // "<id>.<secret>"
};

// The instance's token: the one made before (found by label), else a new one.
Result<Token, BootstrapError> ensure_token(Context& ctx, const api::GpuInstance& inst,
                                           const std::string& pool_uid, Time now) {
  kube::ListOptions lo;
  lo.label_selector = token_selector(inst.metadata.name, pool_uid);
  auto found = ctx.api.list(kube::resources::kSecrets, kBootstrapTokenNamespace, lo);
  if (!found.ok()) return fail(api_error(found.error(), "listing bootstrap tokens"));
  for (const auto& s : found->items) {
    std::string value = token_of(s);
    if (!value.empty()) return Token{s["metadata"]["name"].get<std::string>(), std::move(value)};
  }
  const Time expiration = now + Duration{inst.spec.usage.node.registration_timeout_seconds};
  for (int attempt = 0; attempt < kCreateAttempts; ++attempt) {
    const std::string id = random_token_part(kTokenIdLength);
    const std::string secret = random_token_part(kTokenSecretLength);
    auto made = ctx.api.create(kube::resources::kSecrets, kBootstrapTokenNamespace,
                               token_secret(inst, pool_uid, id, secret, expiration));
    if (made.ok()) {
      std::string value = id;
      value.append(".").append(secret);
      return Token{"bootstrap-token-" + id, std::move(value)};
    }
    if (made.error().kind != kube::ErrorKind::AlreadyExists) {
      return fail(api_error(made.error(), "creating a bootstrap token"));
    }
  }
  return fail(BootstrapError{BootstrapError::Kind::Api, "every new bootstrap token id was taken",
                             kube::ApiError{}});
}

bool retired_phase(api::InstancePhase p) {
  using P = api::InstancePhase;
  return p == P::Ready || p == P::Failed || p == P::Terminating || p == P::Terminated;
}

}  // namespace

Result<std::string, BootstrapError> bootstrap_template(kube::KubeApi& api,
                                                       const std::string& namespace_,
                                                       const api::NodeUsage& node) {
  const api::SecretKeyRef& ref = node.bootstrap_secret_ref;
  if (ref.name.empty()) return node.bootstrap_script;
  const std::string where = "Secret " + namespace_ + "/" + ref.name;
  auto secret = api.get(kube::resources::kSecrets, namespace_, ref.name);
  if (!secret.ok()) {
    if (secret.error().kind == kube::ErrorKind::NotFound) {
      return fail(template_error("the bootstrap template's " + where + " does not exist"));
    }
    return fail(api_error(secret.error(), "reading the bootstrap template's " + where));
  }
  const Json& data = (*secret)["data"];
  if (!data.is_object() || !data.contains(ref.key) || !data[ref.key].is_string()) {
    return fail(
        template_error("the bootstrap template's " + where + " has no key \"" + ref.key + "\""));
  }
  auto text = net::base64_decode(data[ref.key].get<std::string>());
  if (!text) {
    return fail(template_error("the bootstrap template's " + where + " key \"" + ref.key +
                               "\" is not valid base64"));
  }
  return std::move(*text);
}

decision::BootstrapCheck check_pool_bootstrap(Context& ctx, const api::GpuPool& pool) {
  decision::BootstrapCheck out;
  const api::NodeUsage& node = pool.spec.usage.node;
  auto text = bootstrap_template(ctx.api, pool.metadata.namespace_, node);
  if (!text.ok()) {
    out.problem = text.error().message;
  } else if (auto checked = bootstrap::check(*text, node.labels, node.taints); !checked.ok()) {
    const std::string source =
        node.bootstrap_secret_ref.name.empty()
            ? "spec.usage.node.bootstrapScript"
            : "Secret " + node.bootstrap_secret_ref.name + " key " + node.bootstrap_secret_ref.key;
    out.problem =
        "the bootstrap template (" + source + ") does not render: " + checked.error().describe();
  }
  const std::string sample = text.ok() ? *text : std::string();
  for (const auto& ref : pool.spec.providers) {
    auto p = ctx.registry.get(ref.name);
    if (p && !runs_user_data(p->user_data_support(), sample)) out.unsupported.push_back(ref.name);
  }
  return out;
}

Result<std::string, BootstrapError> prepare_bootstrap(Context& ctx, const api::GpuInstance& inst,
                                                      const std::string& pool_uid,
                                                      api::GpuInstanceStatus& st, Time now) {
  auto text = bootstrap_template(ctx.api, inst.metadata.namespace_, inst.spec.usage.node);
  if (!text.ok()) return fail(text.error());
  // A template that cannot render is refused before a token is made.
  if (auto checked =
          bootstrap::check(*text, inst.spec.usage.node.labels, inst.spec.usage.node.taints);
      !checked.ok()) {
    return fail(
        template_error("the bootstrap template does not render: " + checked.error().describe()));
  }
  auto token = ensure_token(ctx, inst, pool_uid, now);
  if (!token.ok()) return fail(token.error());
  st.bootstrap_token_secret = token->secret_name;
  bootstrap::Values v;
  v.instance_name = inst.metadata.name;
  v.pool_name = inst.spec.pool;
  v.pool_namespace = inst.metadata.namespace_;
  v.labels = inst.spec.usage.node.labels;
  v.taints = inst.spec.usage.node.taints;
  v.token = token->value;
  auto rendered = bootstrap::render(*text, v);
  if (!rendered.ok()) {
    return fail(template_error("the bootstrap template does not render for this instance: " +
                               rendered.error().describe()));
  }
  return std::move(*rendered);
}

kube::ApiStatus retire_bootstrap_token(Context& ctx, api::GpuInstanceStatus& st) {
  if (st.bootstrap_token_secret.empty() || !retired_phase(st.phase)) return {};
  auto r = ctx.api.remove(kube::resources::kSecrets, kBootstrapTokenNamespace,
                          st.bootstrap_token_secret);
  if (!r.ok() && r.error().kind != kube::ErrorKind::NotFound) return fail(r.error());
  st.bootstrap_token_secret.clear();
  return {};
}

kube::ApiStatus delete_bootstrap_tokens(Context& ctx, const std::string& instance_name,
                                        const std::string& pool_uid) {
  if (pool_uid.empty()) return {};
  kube::ListOptions lo;
  lo.label_selector = token_selector(instance_name, pool_uid);
  auto found = ctx.api.list(kube::resources::kSecrets, kBootstrapTokenNamespace, lo);
  if (!found.ok()) return fail(found.error());
  for (const auto& s : found->items) {
    auto r = ctx.api.remove(kube::resources::kSecrets, kBootstrapTokenNamespace,
                            s["metadata"]["name"].get<std::string>());
    if (!r.ok() && r.error().kind != kube::ErrorKind::NotFound) return fail(r.error());
  }
  return {};
}

}  // namespace gpupool::controllers
