#pragma once
// SSH public keys for providers that take keys by account id (Verda's
// ssh_key_ids, DigitalOcean's ssh_keys, Vultr's sshkey_id): the adapter
// registers the intent's public key with the account once and refers to it
// by id. Keys are compared by type and key material, not by comment.
//
// Thread-safe.

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "operator/base/thread_annotations.h"
#include "providers/provider.h"

namespace gpupool::net {

// "ssh-ed25519 AAAA... comment" and "ssh-ed25519 AAAA..." are the same key.
bool same_ssh_key(std::string_view a, std::string_view b);
// The name the operator registers a key under: "gpupool-<12 hex of its hash>".
std::string ssh_key_name(std::string_view public_key);

struct SshKeyEntry {
  std::string id;
  std::string public_key;
};

// Reads an account's key list: the array at `list_field` of the JSON body
// (the body itself when `list_field` is empty) of objects with `id_field`
// (string or integer) and `key_field`. Transient when unreadable.
ProviderResult<std::vector<SshKeyEntry>> parse_ssh_key_list(std::string_view body,
                                                            const char* list_field,
                                                            const char* id_field,
                                                            const char* key_field);
// Reads the new key's id from an add answer: `object_field`.`id_field`
// (string or integer). Transient when unreadable.
ProviderResult<std::string> parse_added_ssh_key(std::string_view body, const char* object_field,
                                                const char* id_field);

// An account's key API as data, for providers whose keys are JSON objects
// with an "id": list with GET `list_path` (the keys in the array at
// `list_field`), add with POST `add_path` {"name": <name>, <key_field>: <key>}
// (the new id at `added_object`.id).
struct SshKeyApi {
  std::string list_path;     // "/v2/account/keys?per_page=200"
  const char* list_field;    // "ssh_keys"
  const char* key_field;     // "public_key": in the list's objects and the add body
  std::string add_path;      // "/v2/account/keys"
  const char* added_object;  // "ssh_key"
};
// The adapter's JSON call (its JsonApi with its credentials):
// (what, method, path, body, idempotent) -> the answer's body.
using ApiCall = std::function<ProviderResult<std::string>(
    const std::string& what, const std::string& method, const std::string& path,
    const std::string& body, bool idempotent)>;

class SshKeyRegistry {
 public:
  using ListFn = std::function<ProviderResult<std::vector<SshKeyEntry>>()>;
  // Registers the key under `name`; returns its id.
  using AddFn = std::function<ProviderResult<std::string>(const std::string& name)>;

  // The account's id for `public_key`: remembered, else found with list(),
  // else added with add(). Errors are list()'s or add()'s.
  ProviderResult<std::string> id_for(std::string_view public_key, const ListFn& list,
                                     const AddFn& add);
  // id_for() with list() and add() made from `api`, sent through `call`.
  ProviderResult<std::string> id_for(std::string_view public_key, const SshKeyApi& api,
                                     const ApiCall& call);

 private:
  // Held across list + add, so concurrent creates register a key once.
  Mutex mu_;
  std::map<std::string, std::string, std::less<>> ids_ GUARDED_BY(mu_);
};

}  // namespace gpupool::net
