#include "providers/http/ssh_keys.h"

#include <nlohmann/json.hpp>

#include "providers/http/hash.h"
#include "providers/http/json_fields.h"
#include "providers/http/provider_errors.h"

namespace gpupool::net {
namespace {

// The first two space-separated fields: key type and key material.
std::string_view key_core(std::string_view k) {
  while (!k.empty() && (k.front() == ' ' || k.front() == '\t'))
    k.remove_prefix(1);
  size_t first = k.find(' ');
  if (first == std::string_view::npos) return k;
  size_t second = k.find_first_of(" \t\r\n", first + 1);
  return k.substr(0, second);
}

std::string id_of(const nlohmann::json& j, const char* field) {
  auto it = j.find(field);
  if (it == j.end()) return "";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_number_integer()) return std::to_string(it->get<int64_t>());
  return "";
}

ProviderError unreadable(std::string_view what, std::string_view body) {
  return provider_error(ProviderErrorKind::Transient,
                        std::string(what) + ": unreadable answer: " + body_excerpt(body));
}

}  // namespace

ProviderResult<std::vector<SshKeyEntry>> parse_ssh_key_list(std::string_view body,
                                                            const char* list_field,
                                                            const char* id_field,
                                                            const char* key_field) {
  const auto j = nlohmann::json::parse(body, nullptr, false);
  const nlohmann::json* list = &j;
  if (*list_field != '\0') {
    auto it = j.is_object() ? j.find(list_field) : j.end();
    list = it == j.end() ? nullptr : &*it;
  }
  if (list == nullptr || !list->is_array()) return fail(unreadable("list ssh keys", body));
  std::vector<SshKeyEntry> out;
  for (const auto& k : *list) {
    if (!k.is_object()) continue;
    auto key = k.find(key_field);
    out.push_back({id_of(k, id_field),
                   key != k.end() && key->is_string() ? key->get<std::string>() : std::string()});
  }
  return out;
}

ProviderResult<std::string> parse_added_ssh_key(std::string_view body, const char* object_field,
                                                const char* id_field) {
  const auto j = nlohmann::json::parse(body, nullptr, false);
  auto obj = j.is_object() ? j.find(object_field) : j.end();
  std::string id = obj != j.end() && obj->is_object() ? id_of(*obj, id_field) : std::string();
  if (id.empty()) return fail(unreadable("add ssh key", body));
  return id;
}

bool same_ssh_key(std::string_view a, std::string_view b) {
  return !key_core(a).empty() && key_core(a) == key_core(b);
}

std::string ssh_key_name(std::string_view public_key) {
  return "gpupool-" + sha256_hex(key_core(public_key)).substr(0, 12);
}

ProviderResult<std::string> SshKeyRegistry::id_for(std::string_view public_key, const ListFn& list,
                                                   const AddFn& add) {
  const std::string core(key_core(public_key));
  MutexLock lock(mu_);
  if (auto it = ids_.find(core); it != ids_.end()) return it->second;
  auto known = list();
  if (!known.ok()) return fail(known.error());
  std::string id;
  for (const auto& k : *known) {
    if (same_ssh_key(k.public_key, public_key)) id = k.id;
  }
  if (id.empty()) {
    auto added = add(ssh_key_name(public_key));
    if (!added.ok()) return fail(added.error());
    id = *added;
  }
  ids_[core] = id;
  return id;
}

ProviderResult<std::string> SshKeyRegistry::id_for(std::string_view public_key,
                                                   const SshKeyApi& api, const ApiCall& call) {
  const std::string key(public_key);
  return id_for(
      public_key,
      [&]() -> ProviderResult<std::vector<SshKeyEntry>> {
        auto body = call("list ssh keys", "GET", api.list_path, "", true);
        if (!body.ok()) return fail(body.error());
        return parse_ssh_key_list(*body, api.list_field, "id", api.key_field);
      },
      [&](const std::string& name) -> ProviderResult<std::string> {
        const nlohmann::json add = {{"name", name}, {api.key_field, key}};
        auto body = call("add ssh key", "POST", api.add_path, json_text(add), false);
        if (!body.ok()) return fail(body.error());
        return parse_added_ssh_key(*body, api.added_object, "id");
      });
}

}  // namespace gpupool::net
