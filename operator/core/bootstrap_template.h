#pragma once
// The bootstrap template (issue 13): a pool's join script or cloud-init
// document (spec.usage.node.bootstrapScript or the Secret named by
// bootstrapSecretRef), rendered once per instance into the provider's user
// data. Pure: no I/O, no clock. The language is in docs/bootstrap.md; in short
//
//   text {{ variable | filter }} text
//
// Text outside tags is copied byte for byte. Every substitution names how its
// value is escaped for the place it lands:
//   shell  one POSIX shell word: the value in single quotes, each ' written
//          as '\'' (so $(...), backticks, newlines, #, spaces stay literal).
//          Use it where a shell word may stand, never inside "..." or '...'.
//   yaml   one double-quoted YAML scalar ("..." with \", \\, \n, \t, \uXXXX
//          escapes; other Unicode is kept). Use it where a YAML value stands.
//   raw    the value as is, allowed only for variables the operator itself
//          generates and checks at render time (token, token.id,
//          token.secret, instance.name): their characters are [a-z0-9.-].
// A tag holding only a string literal ({{ "{{" }}) writes that literal, for
// templates that need "{{" in their text.
//
// Variables (Values below): instance.name, pool.name, pool.namespace,
// node.labels (kubelet --node-labels form: "k=v,k=v", including
// gpupool.io/pool=<pool> and gpupool.io/instance=<instance>), node.taints
// (kubelet --register-with-taints form: "k=v:Effect,k:Effect"), token
// ("<id>.<secret>", a kubeadm bootstrap token), token.id, token.secret.
//
// Errors name line and column (1-based, bytes) of the tag: an unclosed tag,
// an unknown variable or filter, a missing filter, raw on a variable that
// does not allow it, a value that cannot be written in its filter (a NUL
// byte in a shell word; a raw value outside [a-z0-9.-]).

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "operator/base/result.h"

namespace gpupool::bootstrap {

struct Values {
  std::string instance_name;
  std::string pool_name;
  std::string pool_namespace;
  std::map<std::string, std::string> labels;  // the pool's node labels (without ours)
  std::vector<std::string> taints;            // "key=value:Effect" or "key:Effect"
  std::string token;                          // "<id>.<secret>"
};

struct TemplateError {
  int line = 0;    // 1-based
  int column = 0;  // 1-based, in bytes
  std::string message;
  // "line 3, column 14: unknown variable \"instance.nmae\" (known: ...)"
  std::string describe() const;
};

// The rendered template. REQUIRES nothing of `values`; a value that cannot be
// written in its filter is an error, never written unescaped.
Result<std::string, TemplateError> render(std::string_view tmpl, const Values& values);

// Renders `tmpl` with sample values (Values for a pool and an instance name
// that do not exist) to find every error a real render would meet, short of
// the values themselves. For pool validation: a bad template buys nothing.
Status<TemplateError> check(std::string_view tmpl, const std::map<std::string, std::string>& labels,
                            const std::vector<std::string>& taints);

// kubelet --node-labels value: the pool's labels plus gpupool.io/pool and
// gpupool.io/instance, sorted by key, "k=v" joined by ",".
std::string node_labels(const Values& values);
// kubelet --register-with-taints value: the taints joined by ",".
std::string node_taints(const Values& values);

// Escapers, exposed for tests and for other renderers.
std::string shell_word(std::string_view value);   // REQUIRES: no NUL byte
std::string yaml_scalar(std::string_view value);  // double-quoted YAML scalar

}  // namespace gpupool::bootstrap
