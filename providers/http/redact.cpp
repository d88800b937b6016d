#include "providers/http/redact.h"

#include <algorithm>
#include <array>
#include <cctype>

#include "providers/http/url.h"

namespace gpupool::net {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool contains_any(const std::string& haystack, std::initializer_list<std::string_view> needles) {
  return std::any_of(needles.begin(), needles.end(),
                     [&](std::string_view n) { return haystack.find(n) != std::string::npos; });
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

}  // namespace

bool is_sensitive_header(std::string_view name) {
  std::string n = lower(name);
  if (n == "authorization" || n == "proxy-authorization" || n == "x-api-key" || n == "cookie" ||
      n == "set-cookie" || n == "x-amz-security-token") {
    return true;
  }
  return contains_any(n, {"token", "secret", "password", "api-key", "apikey"});
}

bool is_sensitive_param(std::string_view name) {
  std::string n = lower(name);
  if (n == "x-amz-signature" || n == "x-amz-credential" || n == "x-amz-security-token" ||
      n == "signature") {
    return true;
  }
  if (n.find("token") != std::string::npos) {
    return !(n == "clienttoken" || n == "nexttoken" || n == "client_token" || n == "next_token");
  }
  return contains_any(n, {"password", "secret", "api_key", "apikey", "api-key", "access_key",
                          "accesskey", "userdata", "user_data", "privatekey", "private_key"});
}

bool is_sensitive_json_field(std::string_view name) {
  std::string n = lower(name);
  // A container's env carries resolved Secrets, whatever the variables are
  // called (Runpod "env", Vast.ai "env" / "extra_env").
  if (n == "env" || n == "environment" || n.ends_with("_env")) return true;
  return contains_any(
      n, {"password", "secret", "token", "key", "authorization", "credential", "user_data",
          "userdata", "passwd", "onstart", "script", "cloud_init", "cloudinit"});
}

Headers redact_headers(const Headers& headers) {
  Headers out = headers;
  for (auto& [name, value] : out) {
    if (is_sensitive_header(name)) value = std::string(kRedacted);
  }
  return out;
}

std::string redact_form(std::string_view body) {
  // Keep the raw encoding of non-sensitive parts; only replace values.
  std::string out;
  size_t pos = 0;
  while (pos <= body.size()) {
    size_t amp = body.find('&', pos);
    std::string_view part =
        body.substr(pos, amp == std::string_view::npos ? std::string_view::npos : amp - pos);
    size_t eq = part.find('=');
    std::string_view key = part.substr(0, eq);
    if (!out.empty() || pos > 0) out.push_back('&');
    if (eq != std::string_view::npos && is_sensitive_param(percent_decode(key, true))) {
      out.append(key);
      out.push_back('=');
      out.append(kRedacted);
    } else {
      out.append(part);
    }
    if (amp == std::string_view::npos) break;
    pos = amp + 1;
  }
  return out;
}

std::string redact_url(std::string_view url) {
  size_t q = url.find('?');
  if (q == std::string_view::npos) return std::string(url);
  size_t hash = url.find('#', q);
  std::string_view query =
      url.substr(q + 1, hash == std::string_view::npos ? std::string_view::npos : hash - q - 1);
  std::string out(url.substr(0, q + 1));
  out += redact_form(query);
  if (hash != std::string_view::npos) out.append(url.substr(hash));
  return out;
}

std::string redact_json(std::string_view body) {
  // A textual scan: find each string literal; if it is followed by ':' it is a
  // key; if the key is sensitive, replace the value that follows (a string,
  // or a scalar up to the next ',', '}' or ']'; objects/arrays are replaced
  // entirely by balancing brackets).
  std::string out;
  out.reserve(body.size());
  size_t i = 0;
  auto read_string = [&](size_t start) -> size_t {  // returns index after closing quote
    size_t j = start + 1;
    while (j < body.size()) {
      if (body[j] == '\\') {
        j += 2;
        continue;
      }
      if (body[j] == '"') return j + 1;
      ++j;
    }
    return body.size();
  };
  while (i < body.size()) {
    char c = body[i];
    if (c != '"') {
      out.push_back(c);
      ++i;
      continue;
    }
    size_t end = read_string(i);
    std::string_view literal = body.substr(i, end - i);
    out.append(literal);
    i = end;
    size_t k = i;
    while (k < body.size() && is_space(body[k]))
      ++k;
    if (k >= body.size() || body[k] != ':') continue;
    std::string_view key =
        literal.size() >= 2 ? literal.substr(1, literal.size() - 2) : std::string_view();
    if (!is_sensitive_json_field(key)) continue;
    out.append(body.substr(i, k + 1 - i));  // whitespace and ':'
    k += 1;
    while (k < body.size() && is_space(body[k]))
      out.push_back(body[k++]);
    if (k >= body.size()) {
      i = k;
      continue;
    }
    size_t value_end = k;
    if (body[k] == '"') {
      value_end = read_string(k);
    } else if (body[k] == '{' || body[k] == '[') {
      int depth = 0;
      while (value_end < body.size()) {
        char v = body[value_end];
        if (v == '"') {
          value_end = read_string(value_end);
          continue;
        }
        if (v == '{' || v == '[') ++depth;
        if (v == '}' || v == ']') {
          --depth;
          if (depth == 0) {
            ++value_end;
            break;
          }
        }
        ++value_end;
      }
    } else {
      while (value_end < body.size() && body[value_end] != ',' && body[value_end] != '}' &&
             body[value_end] != ']' && !is_space(body[value_end])) {
        ++value_end;
      }
    }
    std::string_view value = body.substr(k, value_end - k);
    if (value == "null" || value.empty()) {
      out.append(value);
    } else {
      out.push_back('"');
      out.append(kRedacted);
      out.push_back('"');
    }
    i = value_end;
  }
  return out;
}

std::string redact_body(std::string_view body, std::string_view content_type, size_t max_chars) {
  std::string ct = lower(content_type);
  std::string out;
  size_t first = 0;
  while (first < body.size() && is_space(body[first]))
    ++first;
  bool looks_json = first < body.size() && (body[first] == '{' || body[first] == '[');
  if (ct.find("json") != std::string::npos || looks_json) {
    out = redact_json(body);
  } else if (ct.find("x-www-form-urlencoded") != std::string::npos) {
    out = redact_form(body);
  } else if (body.substr(first).starts_with("#!") ||
             body.substr(first).starts_with("#cloud-config")) {
    // A boot script sent as is (Scaleway's user_data/cloud-init): join
    // tokens, a container's env.
    out = std::string(kRedacted) + " (" + std::to_string(body.size()) + " bytes)";
  } else {
    out = std::string(body);
  }
  if (out.size() > max_chars) {
    size_t dropped = out.size() - max_chars;
    out.resize(max_chars);
    out += "...(" + std::to_string(dropped) + " more bytes)";
  }
  return out;
}

}  // namespace gpupool::net
