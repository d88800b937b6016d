#include "operator/kube/schema/schema.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <regex>

#include "operator/clock/clock.h"
#include "operator/kube/schema/regex_cache.h"

namespace gpupool::kube::schema {

using nlohmann::json;

std::string_view reason_of(CauseType type) {
  switch (type) {
    case CauseType::FieldValueRequired:
      return "FieldValueRequired";
    case CauseType::FieldValueInvalid:
      return "FieldValueInvalid";
    case CauseType::FieldValueNotSupported:
      return "FieldValueNotSupported";
    case CauseType::FieldValueTypeInvalid:
      return "FieldValueTypeInvalid";
    case CauseType::FieldValueTooLong:
      return "FieldValueTooLong";
    case CauseType::FieldValueTooMany:
      return "FieldValueTooMany";
    case CauseType::FieldValueForbidden:
      return "FieldValueForbidden";
    case CauseType::FieldValueDuplicate:
      return "FieldValueDuplicate";
  }
  return "FieldValueInvalid";
}

std::string SchemaCause::to_string() const {
  return field.empty() ? message : field + ": " + message;
}

namespace {

const json* member(const json& schema, const char* key) {
  if (!schema.is_object()) return nullptr;
  auto it = schema.find(key);
  return it == schema.end() ? nullptr : &*it;
}

bool flag(const json& schema, const char* key) {
  const json* v = member(schema, key);
  return v != nullptr && v->is_boolean() && v->get<bool>();
}

std::string child_path(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}
std::string item_path(const std::string& path, size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

// Go's %q for the strings we print.
std::string go_quote(const std::string& s) {
  std::string out = "\"";
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\x%02x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

// How apimachinery prints a bad value: strings quoted, scalars bare,
// composites as JSON.
std::string print_value(const json& v) {
  if (v.is_string()) return go_quote(v.get<std::string>());
  if (v.is_null()) return "null";
  return v.dump(-1, ' ', false, json::error_handler_t::replace);
}

// Go's %v of a float64 bound: 64 -> "64", 0.5 -> "0.5".
std::string print_number(double d) {
  if (std::isfinite(d) && std::floor(d) == d && std::fabs(d) < 1e15) {
    return std::to_string(static_cast<long long>(d));
  }
  return json(d).dump();
}

const char* json_type(const json& v) {
  switch (v.type()) {
    case json::value_t::object:
      return "object";
    case json::value_t::array:
      return "array";
    case json::value_t::string:
      return "string";
    case json::value_t::boolean:
      return "boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return "integer";
    case json::value_t::number_float:
      return "number";
    default:
      return "null";
  }
}

bool type_matches(const std::string& type, const json& v) {
  if (type == "object") return v.is_object();
  if (type == "array") return v.is_array();
  if (type == "string") return v.is_string();
  if (type == "boolean") return v.is_boolean();
  if (type == "integer") return v.is_number_integer();
  if (type == "number") return v.is_number();
  return true;  // unknown type names are not enforced
}

size_t utf8_length(const std::string& s) {
  size_t n = 0;
  for (char ch : s) {
    if ((static_cast<unsigned char>(ch) & 0xC0) != 0x80) ++n;
  }
  return n;
}

bool valid_date(std::string_view s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return false;
  for (size_t i : {0u, 1u, 2u, 3u, 5u, 6u, 8u, 9u}) {
    if (s[i] < '0' || s[i] > '9') return false;
  }
  int month = (s[5] - '0') * 10 + (s[6] - '0');
  int day = (s[8] - '0') * 10 + (s[9] - '0');
  return month >= 1 && month <= 12 && day >= 1 && day <= 31;
}

bool format_ok(const std::string& format, const json& v) {
  if (format == "date-time") {
    if (!v.is_string()) return true;
    Time t;
    return parse_rfc3339(v.get<std::string>(), t);
  }
  if (format == "date") return !v.is_string() || valid_date(v.get<std::string>());
  if (format == "int32" && v.is_number_integer()) {
    if (v.is_number_unsigned()) return v.get<uint64_t>() <= 2147483647ULL;
    int64_t i = v.get<int64_t>();
    return i >= -2147483648LL && i <= 2147483647LL;
  }
  return true;
}

constexpr size_t kMaxPatternInput = 4096;

class Validator {
 public:
  // `skip_root_reserved`: the root is a custom resource whose apiVersion,
  // kind and metadata are not the schema's to check (neither validated nor
  // required; see Options::custom_resource_root).
  Validator(std::vector<SchemaCause>* out, bool skip_root_reserved)
      : out_(out), skip_root_reserved_(skip_root_reserved) {}

  void node(const json& schema, const json& v, const std::string& path) {
    if (!schema.is_object()) return;
    const std::string name = path.empty() ? "body" : path;
    if (v.is_null()) {
      if (flag(schema, "nullable")) return;
      const json* type = member(schema, "type");
      if (type != nullptr && type->is_string()) type_error(path, name, type->get<std::string>(), v);
      return;
    }
    if (flag(schema, "x-kubernetes-int-or-string")) {
      if (!v.is_number_integer() && !v.is_string()) type_error(path, name, "integer,string", v);
    } else if (const json* type = member(schema, "type"); type != nullptr && type->is_string()) {
      if (!type_matches(type->get<std::string>(), v)) {
        type_error(path, name, type->get<std::string>(), v);
        return;
      }
    }
    if (const json* format = member(schema, "format"); format != nullptr && format->is_string()) {
      if (!format_ok(format->get<std::string>(), v)) {
        add(CauseType::FieldValueTypeInvalid, path,
            "Invalid value: " + print_value(v) + ": " + name + " in body must be of type " +
                format->get<std::string>() + ": " + print_value(v));
      }
    }
    if (const json* e = member(schema, "enum"); e != nullptr && e->is_array()) {
      bool found = false;
      for (const auto& allowed : *e) {
        if (allowed == v) found = true;
      }
      if (!found) {
        std::string list;
        for (const auto& allowed : *e) {
          if (!list.empty()) list += ", ";
          list += print_value(allowed);
        }
        add(CauseType::FieldValueNotSupported, path,
            "Unsupported value: " + print_value(v) + ": supported values: " + list);
      }
    }
    if (v.is_number()) numeric(schema, v, path, name);
    if (v.is_string()) string(schema, v, path, name);
    if (v.is_array()) array(schema, v, path, name);
    if (v.is_object()) object(schema, v, path);
  }

 private:
  void add(CauseType type, const std::string& path, std::string message) {
    out_->push_back(SchemaCause{type, path, std::move(message)});
  }

  void type_error(const std::string& path, const std::string& name, const std::string& want,
                  const json& v) {
    const std::string got = go_quote(json_type(v));
    add(CauseType::FieldValueTypeInvalid, path,
        "Invalid value: " + got + ": " + name + " in body must be of type " + want + ": " + got);
  }

  void numeric(const json& schema, const json& v, const std::string& path,
               const std::string& name) {
    const double d = v.get<double>();
    if (const json* min = member(schema, "minimum"); min != nullptr && min->is_number()) {
      const double m = min->get<double>();
      const bool exclusive = flag(schema, "exclusiveMinimum");
      if (exclusive ? !(d > m) : !(d >= m)) {
        add(CauseType::FieldValueInvalid, path,
            "Invalid value: " + print_value(v) + ": " + name + " in body should be greater than " +
                (exclusive ? "" : "or equal to ") + print_number(m));
      }
    }
    if (const json* max = member(schema, "maximum"); max != nullptr && max->is_number()) {
      const double m = max->get<double>();
      const bool exclusive = flag(schema, "exclusiveMaximum");
      if (exclusive ? !(d < m) : !(d <= m)) {
        add(CauseType::FieldValueInvalid, path,
            "Invalid value: " + print_value(v) + ": " + name + " in body should be less than " +
                (exclusive ? "" : "or equal to ") + print_number(m));
      }
    }
  }

  void string(const json& schema, const json& v, const std::string& path, const std::string& name) {
    const std::string& s = v.get_ref<const std::string&>();
    const size_t len = utf8_length(s);
    if (const json* min = member(schema, "minLength"); min != nullptr && min->is_number_integer()) {
      if (static_cast<int64_t>(len) < min->get<int64_t>()) {
        add(CauseType::FieldValueInvalid, path,
            "Invalid value: " + print_value(v) + ": " + name + " in body should be at least " +
                std::to_string(min->get<int64_t>()) + " chars long");
      }
    }
    if (const json* max = member(schema, "maxLength"); max != nullptr && max->is_number_integer()) {
      if (static_cast<int64_t>(len) > max->get<int64_t>()) {
        add(CauseType::FieldValueTooLong, path,
            "Too long: may not be more than " + std::to_string(max->get<int64_t>()) + " bytes");
      }
    }
    if (const json* pattern = member(schema, "pattern");
        pattern != nullptr && pattern->is_string()) {
      const std::string& re = pattern->get_ref<const std::string&>();
      auto regex = compiled_regex(re);
      if (regex == nullptr) {
        add(CauseType::FieldValueInvalid, path,
            "Invalid value: " + print_value(v) + ": schema pattern '" + re +
                "' is not a valid regular expression");
      } else if (s.size() > kMaxPatternInput) {
        // libstdc++'s regex recurses per character; refuse rather than overflow the stack.
        add(CauseType::FieldValueInvalid, path,
            "Invalid value: " + print_value(json(s.substr(0, 32) + "...")) + ": " + name +
                " is too long to match against '" + re + "'");
      } else if (!std::regex_search(s, *regex)) {
        add(CauseType::FieldValueInvalid, path,
            "Invalid value: " + print_value(v) + ": " + name + " in body should match '" + re +
                "'");
      }
    }
  }

  void array(const json& schema, const json& v, const std::string& path, const std::string& name) {
    const auto count = static_cast<int64_t>(v.size());
    if (const json* min = member(schema, "minItems"); min != nullptr && min->is_number_integer()) {
      if (count < min->get<int64_t>()) {
        add(CauseType::FieldValueInvalid, path,
            "Invalid value: " + print_value(v) + ": " + name + " in body should have at least " +
                std::to_string(min->get<int64_t>()) + " items");
      }
    }
    if (const json* max = member(schema, "maxItems"); max != nullptr && max->is_number_integer()) {
      if (count > max->get<int64_t>()) {
        add(CauseType::FieldValueTooMany, path,
            "Too many: " + std::to_string(count) + ": must have at most " +
                std::to_string(max->get<int64_t>()) + " items");
      }
    }
    if (const json* items = member(schema, "items"); items != nullptr && items->is_object()) {
      for (size_t i = 0; i < v.size(); ++i)
        node(*items, v[i], item_path(path, i));
    }
  }

  static bool reserved(const std::string& key) {
    return key == "apiVersion" || key == "kind" || key == "metadata";
  }

  void object(const json& schema, const json& v, const std::string& path) {
    const bool root = skip_root_reserved_ && path.empty();
    if (const json* required = member(schema, "required");
        required != nullptr && required->is_array()) {
      for (const auto& r : *required) {
        if (!r.is_string()) continue;
        if (root && reserved(r.get_ref<const std::string&>())) continue;
        auto it = v.find(r.get<std::string>());
        if (it == v.end())
          add(CauseType::FieldValueRequired, child_path(path, r), "Required value");
      }
    }
    const json* props = member(schema, "properties");
    const json* additional = member(schema, "additionalProperties");
    for (const auto& [key, item] : v.items()) {
      if (root && reserved(key)) continue;
      if (props != nullptr && props->is_object()) {
        auto it = props->find(key);
        if (it != props->end()) {
          node(*it, item, child_path(path, key));
          continue;
        }
      }
      if (additional != nullptr && additional->is_object()) {
        node(*additional, item, child_path(path, key));
      }
    }
  }

  std::vector<SchemaCause>* out_;
  bool skip_root_reserved_ = false;
};

bool root_reserved(const std::string& path, const std::string& key, const Options& options) {
  return options.custom_resource_root && path.empty() &&
         (key == "apiVersion" || key == "kind" || key == "metadata");
}

// Walks value against schema and calls on_unknown(object, key, path) for
// every unknown key, recursing into known ones. Non-const json so prune can
// reuse it.
template <typename Json, typename F>
void walk_unknown(const json& schema, Json& v, const std::string& path, const Options& options,
                  F& on_unknown) {
  if (!schema.is_object()) return;
  if (v.is_array()) {
    const json* items = member(schema, "items");
    if (items == nullptr) return;
    for (size_t i = 0; i < v.size(); ++i) {
      walk_unknown(*items, v[i], item_path(path, i), options, on_unknown);
    }
    return;
  }
  if (!v.is_object()) return;
  const bool preserve = flag(schema, "x-kubernetes-preserve-unknown-fields");
  const json* props = member(schema, "properties");
  const json* additional = member(schema, "additionalProperties");
  std::vector<std::string> keys;
  for (const auto& [key, unused] : v.items())
    keys.push_back(key);
  for (const auto& key : keys) {
    if (root_reserved(path, key, options)) continue;
    const std::string p = child_path(path, key);
    if (props != nullptr && props->is_object()) {
      auto it = props->find(key);
      if (it != props->end()) {
        walk_unknown(*it, v[key], p, options, on_unknown);
        continue;
      }
    }
    if (additional != nullptr) {
      if (additional->is_object()) {
        walk_unknown(*additional, v[key], p, options, on_unknown);
        continue;
      }
      if (additional->is_boolean() && additional->get<bool>()) continue;
    }
    if (!preserve) on_unknown(v, key, p);
  }
}

void prune_nulls(const json& schema, json& v, const std::string& path, const Options& options) {
  if (!schema.is_object()) return;
  if (v.is_array()) {
    const json* items = member(schema, "items");
    if (items == nullptr) return;
    for (auto& item : v)
      prune_nulls(*items, item, path + "[]", options);
    return;
  }
  if (!v.is_object()) return;
  const json* props = member(schema, "properties");
  const json* additional = member(schema, "additionalProperties");
  std::vector<std::string> drop;
  for (auto& [key, item] : v.items()) {
    if (root_reserved(path, key, options)) continue;
    const json* sub = nullptr;
    if (props != nullptr && props->is_object()) {
      auto it = props->find(key);
      if (it != props->end()) sub = &*it;
    }
    if (sub == nullptr && additional != nullptr && additional->is_object()) sub = additional;
    if (sub == nullptr) continue;
    if (item.is_null()) {
      if (!flag(*sub, "nullable")) drop.push_back(key);
      continue;
    }
    prune_nulls(*sub, item, child_path(path, key), options);
  }
  for (const auto& key : drop)
    v.erase(key);
}

}  // namespace

std::vector<SchemaCause> validate(const json& schema, const json& value, const Options& options) {
  std::vector<SchemaCause> out;
  if (options.custom_resource_root && value.is_object() && schema.is_object() &&
      !schema.contains("enum") && !schema.contains("format")) {
    // Everything but the reserved root fields, which have their own rules,
    // checked in place: copying the object and its schema on every write
    // was a large share of the in-memory API server's time (bench/README.md).
    Validator validator(&out, /*skip_root_reserved=*/true);
    validator.node(schema, value, "");
    return out;
  }
  Validator validator(&out, /*skip_root_reserved=*/false);
  if (options.custom_resource_root && value.is_object() && schema.is_object()) {
    // A root enum or format compares the whole value: compare it without
    // the reserved fields, as above.
    json rest = value;
    rest.erase("apiVersion");
    rest.erase("kind");
    rest.erase("metadata");
    json root_schema = schema;
    if (auto it = root_schema.find("required"); it != root_schema.end() && it->is_array()) {
      json kept = json::array();
      for (const auto& r : *it) {
        if (r != "apiVersion" && r != "kind" && r != "metadata") kept.push_back(r);
      }
      *it = kept;
    }
    validator.node(root_schema, rest, "");
    return out;
  }
  validator.node(schema, value, "");
  return out;
}

std::vector<std::string> unknown_fields(const json& schema, const json& value,
                                        const Options& options) {
  std::vector<std::string> out;
  auto collect = [&out](const json&, const std::string&, const std::string& path) {
    out.push_back(path);
  };
  walk_unknown(schema, value, "", options, collect);
  return out;
}

void prune(const json& schema, json& value, const Options& options) {
  auto erase = [](json& object, const std::string& key, const std::string&) { object.erase(key); };
  walk_unknown(schema, value, "", options, erase);
  prune_nulls(schema, value, "", options);
}

}  // namespace gpupool::kube::schema
