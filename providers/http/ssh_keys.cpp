#include "providers/http/ssh_keys.h"

#include "providers/http/hash.h"

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

}  // namespace

bool same_ssh_key(std::string_view a, std::string_view b) {
  return !key_core(a).empty() && key_core(a) == key_core(b);
}

std::string ssh_key_name(std::string_view public_key) {
  return "gpupool-" + sha256_hex(key_core(public_key)).substr(0, 12);
}

ProviderResult<std::string> SshKeyRegistry::id_for(std::string_view public_key, const ListFn& list,
                                                   const AddFn& add) {
  const std::string core(key_core(public_key));
  std::lock_guard lock(mu_);
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

}  // namespace gpupool::net
