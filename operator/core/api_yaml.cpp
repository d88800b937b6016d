// YAML <-> JSON for the API codec. The only file that calls yaml-cpp; its
// exceptions stop here.

#include <yaml-cpp/yaml.h>

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <string>

#include "operator/base/utf8.h"
#include "operator/core/api_codec.h"
#include "operator/yaml/safe_load.h"

namespace gpupool::api {

using nlohmann::json;

namespace {

constexpr int kMaxDepth = 64;
constexpr size_t kMaxNodes = 100000;

bool all_of(std::string_view s, bool (*pred)(char)) {
  if (s.empty()) return false;
  for (char ch : s) {
    if (!pred(ch)) return false;
  }
  return true;
}
bool is_dec(char c) {
  return c >= '0' && c <= '9';
}
bool is_oct(char c) {
  return c >= '0' && c <= '7';
}
bool is_hex(char c) {
  return is_dec(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool is_null_word(std::string_view s) {
  return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL";
}

// YAML 1.2 core schema integer; sets out to an integer JSON (or a float when
// it does not fit 64 bits).
bool resolve_int(std::string_view s, json& out) {
  std::string_view body = s;
  bool negative = false;
  if (!body.empty() && (body[0] == '-' || body[0] == '+')) {
    negative = body[0] == '-';
    body.remove_prefix(1);
  }
  int base = 10;
  if (s.size() > 2 && s.substr(0, 2) == "0o" && all_of(s.substr(2), is_oct)) {
    base = 8;
    body = s.substr(2);
    negative = false;
  } else if (s.size() > 2 && s.substr(0, 2) == "0x" && all_of(s.substr(2), is_hex)) {
    base = 16;
    body = s.substr(2);
    negative = false;
  } else if (!all_of(body, is_dec)) {
    return false;
  }
  std::string digits(body);
  errno = 0;
  unsigned long long v = std::strtoull(digits.c_str(), nullptr, base);
  if (errno == ERANGE) {
    out = std::strtod(std::string(s).c_str(), nullptr);
    return true;
  }
  if (negative) {
    if (v > 9223372036854775808ULL) {
      out = -static_cast<double>(v);
    } else if (v == 9223372036854775808ULL) {
      out = std::numeric_limits<int64_t>::min();
    } else {
      out = -static_cast<int64_t>(v);
    }
  } else if (v > static_cast<unsigned long long>(std::numeric_limits<int64_t>::max())) {
    out = static_cast<uint64_t>(v);
  } else {
    out = static_cast<int64_t>(v);
  }
  return true;
}

// [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?
bool is_float_text(std::string_view s) {
  size_t i = 0;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
  size_t int_digits = 0;
  while (i < s.size() && is_dec(s[i])) {
    ++i;
    ++int_digits;
  }
  size_t frac_digits = 0;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && is_dec(s[i])) {
      ++i;
      ++frac_digits;
    }
  }
  if (int_digits == 0 && frac_digits == 0) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    size_t exp_digits = 0;
    while (i < s.size() && is_dec(s[i])) {
      ++i;
      ++exp_digits;
    }
    if (exp_digits == 0) return false;
  }
  return i == s.size();
}

bool is_special_float(std::string_view s) {
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) s.remove_prefix(1);
  return s == ".inf" || s == ".Inf" || s == ".INF" || s == ".nan" || s == ".NaN" || s == ".NAN";
}

enum class PlainKind { Null, Bool, Int, Float, SpecialFloat, String };

PlainKind classify_plain(std::string_view s, json* out) {
  if (is_null_word(s)) return PlainKind::Null;
  // YAML 1.1 booleans, as kubectl's YAML reader (sigs.k8s.io/yaml) resolves
  // them, so a file means the same to `plan` and to `kubectl apply`.
  if (s == "true" || s == "True" || s == "TRUE" || s == "yes" || s == "Yes" || s == "YES" ||
      s == "on" || s == "On" || s == "ON" || s == "y" || s == "Y") {
    if (out) *out = true;
    return PlainKind::Bool;
  }
  if (s == "false" || s == "False" || s == "FALSE" || s == "no" || s == "No" || s == "NO" ||
      s == "off" || s == "Off" || s == "OFF" || s == "n" || s == "N") {
    if (out) *out = false;
    return PlainKind::Bool;
  }
  json tmp;
  if (resolve_int(s, tmp)) {
    if (out) *out = tmp;
    return PlainKind::Int;
  }
  if (is_float_text(s)) {
    if (out) *out = std::strtod(std::string(s).c_str(), nullptr);
    return PlainKind::Float;
  }
  if (is_special_float(s)) return PlainKind::SpecialFloat;
  return PlainKind::String;
}

struct Converter {
  size_t nodes = 0;
  std::vector<FieldError>* errors = nullptr;
  int document = -1;

  void error(const YAML::Node& n, const std::string& path, const std::string& msg) {
    auto mark = n.Mark();
    std::string where = mark.is_null() ? std::string()
                                       : " (line " + std::to_string(mark.line + 1) + ", column " +
                                             std::to_string(mark.column + 1) + ")";
    errors->push_back(FieldError{path, msg + where, document});
  }

  json scalar(const YAML::Node& n, const std::string& path) {
    const std::string& text = n.Scalar();
    const std::string& tag = n.Tag();
    // Escapes such as "\udc00" (a lone surrogate) decode to bytes that are
    // not UTF-8 even when the stream is.
    if (invalid_utf8_at(text) != std::string_view::npos) {
      error(n, path, "not valid UTF-8 (an escape that is no Unicode character?)");
      return nullptr;
    }
    if (tag == "!" || tag == "tag:yaml.org,2002:str") return text;
    json value;
    if (tag == "?" || tag.empty()) {
      switch (classify_plain(text, &value)) {
        case PlainKind::Null:
          return nullptr;
        case PlainKind::String:
          return text;
        case PlainKind::SpecialFloat:
          error(n, path, "\"" + text + "\" (infinity / NaN) cannot be represented in JSON");
          return nullptr;
        default:
          return value;
      }
    }
    PlainKind kind = classify_plain(text, &value);
    if (tag == "tag:yaml.org,2002:null" && kind == PlainKind::Null) return nullptr;
    if (tag == "tag:yaml.org,2002:bool" && kind == PlainKind::Bool) return value;
    if (tag == "tag:yaml.org,2002:int" && kind == PlainKind::Int) return value;
    if (tag == "tag:yaml.org,2002:float" && (kind == PlainKind::Int || kind == PlainKind::Float)) {
      return std::strtod(text.c_str(), nullptr);
    }
    error(n, path, "unsupported tag " + tag + " on \"" + text + "\"");
    return nullptr;
  }

  json convert(const YAML::Node& n, const std::string& path, int depth) {
    if (++nodes > kMaxNodes) {
      if (nodes == kMaxNodes + 1) error(n, path, "document too large (alias expansion?)");
      return nullptr;
    }
    if (depth > kMaxDepth) {
      error(n, path, "nesting deeper than " + std::to_string(kMaxDepth));
      return nullptr;
    }
    switch (n.Type()) {
      case YAML::NodeType::Null:
      case YAML::NodeType::Undefined:
        return nullptr;
      case YAML::NodeType::Scalar:
        return scalar(n, path);
      case YAML::NodeType::Sequence: {
        json out = json::array();
        size_t i = 0;
        for (const auto& item : n) {
          out.push_back(convert(item, path + "[" + std::to_string(i) + "]", depth + 1));
          ++i;
        }
        return out;
      }
      case YAML::NodeType::Map: {
        json out = json::object();
        for (const auto& kv : n) {
          if (!kv.first.IsScalar()) {
            error(kv.first, path, "mapping keys must be scalars");
            continue;
          }
          const std::string& key = kv.first.Scalar();
          if (invalid_utf8_at(key) != std::string_view::npos) {
            error(kv.first, path, "a mapping key is not valid UTF-8");
            continue;
          }
          std::string child = path.empty() ? key : path + "." + key;
          if (out.contains(key)) {
            error(kv.first, child, "duplicate key \"" + key + "\"");
            continue;
          }
          out[key] = convert(kv.second, child, depth + 1);
        }
        return out;
      }
    }
    return nullptr;
  }
};

void emit(YAML::Emitter& e, const json& v) {
  switch (v.type()) {
    case json::value_t::object:
      if (v.empty()) {
        e << YAML::Flow << YAML::BeginMap << YAML::EndMap;
        return;
      }
      e << YAML::BeginMap;
      for (const auto& [k, item] : v.items()) {
        e << YAML::Key << k << YAML::Value;
        emit(e, item);
      }
      e << YAML::EndMap;
      return;
    case json::value_t::array:
      if (v.empty()) {
        e << YAML::Flow << YAML::BeginSeq << YAML::EndSeq;
        return;
      }
      e << YAML::BeginSeq;
      for (const auto& item : v)
        emit(e, item);
      e << YAML::EndSeq;
      return;
    case json::value_t::string: {
      const auto& s = v.get_ref<const std::string&>();
      if (classify_plain(s, nullptr) != PlainKind::String) {
        e << YAML::DoubleQuoted << s;
      } else {
        e << s;
      }
      return;
    }
    case json::value_t::null:
      e << YAML::Null;
      return;
    default:
      e << v.dump();
      return;
  }
}

}  // namespace

Result<std::vector<json>, DecodeError> yaml_to_json(std::string_view text) {
  // A YAML stream is Unicode; yaml-cpp passes bytes through, and a JSON
  // string that is not UTF-8 makes every later dump() throw.
  if (const size_t bad = invalid_utf8_at(text); bad != std::string_view::npos) {
    DecodeError e;
    e.kind = DecodeError::Kind::Syntax;
    e.message = "invalid YAML: not UTF-8 at byte " + std::to_string(bad);
    e.fields.push_back(FieldError{"", e.message, -1});
    return fail(std::move(e));
  }
  std::vector<YAML::Node> docs;
  try {
    docs = yaml::load_all(text);
  } catch (const YAML::Exception& ex) {
    DecodeError e;
    e.kind = DecodeError::Kind::Syntax;
    e.message = "invalid YAML at line " + std::to_string(ex.mark.line + 1) + ", column " +
                std::to_string(ex.mark.column + 1) + ": " + ex.msg;
    e.fields.push_back(FieldError{"", e.message, -1});
    return fail(std::move(e));
  }
  std::vector<json> out;
  std::vector<FieldError> errors;
  try {
    int index = 0;
    for (const auto& doc : docs) {
      if (doc.IsNull() || !doc.IsDefined()) continue;
      Converter conv{0, &errors, docs.size() > 1 ? index : -1};
      out.push_back(conv.convert(doc, "", 0));
      ++index;
    }
  } catch (const YAML::Exception& ex) {
    errors.push_back(FieldError{"", std::string("invalid YAML: ") + ex.msg, -1});
  }
  if (!errors.empty()) {
    DecodeError e;
    e.kind = DecodeError::Kind::Syntax;
    e.message = "invalid YAML: " + errors.front().to_string();
    e.fields = std::move(errors);
    return fail(std::move(e));
  }
  return out;
}

Result<std::vector<ApiObject>, DecodeError> decode_yaml(std::string_view text, DecodeMode mode) {
  auto docs = yaml_to_json(text);
  if (!docs.ok()) return fail(docs.error());
  std::vector<ApiObject> objects;
  DecodeError combined;
  bool failed = false;
  const bool many = docs->size() > 1;
  for (size_t i = 0; i < docs->size(); ++i) {
    auto obj = decode_object((*docs)[i], mode);
    if (obj.ok()) {
      objects.push_back(std::move(obj).value());
      continue;
    }
    if (!failed || obj.error().kind == DecodeError::Kind::UnknownKind) {
      combined.kind = obj.error().kind;
    }
    failed = true;
    for (auto f : obj.error().fields) {
      f.document = many ? static_cast<int>(i) : -1;
      combined.fields.push_back(std::move(f));
    }
  }
  if (failed) {
    combined.message = std::to_string(combined.fields.size()) +
                       (combined.fields.size() == 1 ? " error" : " errors") +
                       ", first: " + combined.fields.front().to_string();
    return fail(std::move(combined));
  }
  return objects;
}

std::string to_yaml(const json& value) {
  try {
    YAML::Emitter e;
    emit(e, value);
    return std::string(e.c_str()) + "\n";
  } catch (const YAML::Exception&) {
    return value.dump(2) + "\n";  // JSON is valid YAML
  }
}

}  // namespace gpupool::api
