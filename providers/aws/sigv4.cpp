#include "providers/aws/sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <charconv>
#include <map>

namespace gpupool::aws {
namespace {

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool is_ws(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

std::string normalize_value(std::string_view v) {
  std::string out;
  bool pending_space = false;
  for (char c : v) {
    if (is_ws(c)) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    out.push_back(c);
  }
  return out;
}

std::string two(unsigned v) {
  return v < 10 ? "0" + std::to_string(v) : std::to_string(v);
}

}  // namespace

std::string hex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char ch : bytes) {
    auto c = static_cast<unsigned char>(ch);
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 0xF]);
  }
  return out;
}

std::string sha256_hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr);
  return hex(std::string_view(reinterpret_cast<const char*>(digest), len));
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest, &len);
  return std::string(reinterpret_cast<const char*>(digest), len);
}

std::string amz_day(Time t) {
  std::chrono::year_month_day ymd{std::chrono::floor<std::chrono::days>(t)};
  return std::to_string(static_cast<int>(ymd.year())) + two(static_cast<unsigned>(ymd.month())) +
         two(static_cast<unsigned>(ymd.day()));
}

std::string amz_date(Time t) {
  auto day = std::chrono::floor<std::chrono::days>(t);
  std::chrono::hh_mm_ss hms{t - day};
  return amz_day(t) + "T" + two(static_cast<unsigned>(hms.hours().count())) +
         two(static_cast<unsigned>(hms.minutes().count())) +
         two(static_cast<unsigned>(hms.seconds().count())) + "Z";
}

std::optional<Time> parse_amz_date(std::string_view text) {
  if (text.size() != 16 || text[8] != 'T' || text[15] != 'Z') return std::nullopt;
  auto num = [&](size_t pos, size_t len, int& out) {
    auto [ptr, ec] = std::from_chars(text.data() + pos, text.data() + pos + len, out);
    return ec == std::errc() && ptr == text.data() + pos + len;
  };
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  if (!num(0, 4, y) || !num(4, 2, mo) || !num(6, 2, d) || !num(9, 2, h) || !num(11, 2, mi) ||
      !num(13, 2, s)) {
    return std::nullopt;
  }
  std::chrono::year_month_day ymd{std::chrono::year(y),
                                  std::chrono::month(static_cast<unsigned>(mo)),
                                  std::chrono::day(static_cast<unsigned>(d))};
  if (!ymd.ok() || h > 23 || mi > 59 || s > 59) return std::nullopt;
  return Time(std::chrono::sys_days(ymd) + std::chrono::hours(h) + std::chrono::minutes(mi) +
              std::chrono::seconds(s));
}

std::string canonical_uri(std::string_view path, bool normalize) {
  if (path.empty()) return "/";
  if (!normalize) return net::percent_encode(path, true);
  std::vector<std::string_view> segments;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t slash = path.find('/', pos);
    std::string_view seg =
        path.substr(pos, slash == std::string_view::npos ? std::string_view::npos : slash - pos);
    if (seg == "..") {
      if (!segments.empty()) segments.pop_back();
    } else if (!seg.empty() && seg != ".") {
      segments.push_back(seg);
    }
    if (slash == std::string_view::npos) break;
    pos = slash + 1;
  }
  std::string out = "/";
  for (size_t i = 0; i < segments.size(); ++i) {
    if (i > 0) out.push_back('/');
    out += segments[i];
  }
  if (!segments.empty() && path.back() == '/') out.push_back('/');
  return net::percent_encode(out, true);
}

std::string canonical_query(std::string_view raw_query) {
  std::vector<std::pair<std::string, std::string>> encoded;
  for (auto& [k, v] : net::parse_query(raw_query, false)) {
    encoded.emplace_back(net::percent_encode(k), net::percent_encode(v));
  }
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [k, v] : encoded) {
    if (!out.empty()) out.push_back('&');
    out += k + "=" + v;
  }
  return out;
}

CanonicalHeaders canonical_headers(const net::Headers& headers) {
  std::map<std::string, std::string> merged;
  for (const auto& [name, value] : headers) {
    std::string key = lower(normalize_value(name));
    std::string v = normalize_value(value);
    auto [it, inserted] = merged.emplace(key, v);
    if (!inserted) it->second += "," + v;
  }
  CanonicalHeaders out;
  for (const auto& [k, v] : merged) {
    out.block += k + ":" + v + "\n";
    if (!out.signed_list.empty()) out.signed_list.push_back(';');
    out.signed_list += k;
  }
  return out;
}

std::string canonical_request(std::string_view method, std::string_view uri, std::string_view query,
                              const CanonicalHeaders& headers, std::string_view payload_hash) {
  std::string out;
  out.append(method).append("\n").append(uri).append("\n").append(query).append("\n");
  out.append(headers.block)
      .append("\n")
      .append(headers.signed_list)
      .append("\n")
      .append(payload_hash);
  return out;
}

std::string credential_scope(std::string_view day, std::string_view region,
                             std::string_view service) {
  std::string out(day);
  out.append("/").append(region).append("/").append(service).append("/aws4_request");
  return out;
}

std::string string_to_sign(std::string_view date, std::string_view scope, std::string_view creq) {
  std::string out(kAlgorithm);
  out.append("\n").append(date).append("\n").append(scope).append("\n").append(sha256_hex(creq));
  return out;
}

std::string signature(std::string_view secret, std::string_view day, std::string_view region,
                      std::string_view service, std::string_view sts) {
  std::string k = hmac_sha256("AWS4" + std::string(secret), day);
  k = hmac_sha256(k, region);
  k = hmac_sha256(k, service);
  k = hmac_sha256(k, "aws4_request");
  return hex(hmac_sha256(k, sts));
}

SigningResult sign_with_headers(const SignableRequest& request, const Credentials& credentials,
                                const SigningParams& params) {
  SigningResult r;
  std::string date = amz_date(params.time);
  std::string day = amz_day(params.time);
  std::string payload_hash = sha256_hex(request.body);
  net::Headers to_sign = request.headers;
  bool has_token = !credentials.session_token.empty();
  if (has_token) r.added_headers.emplace_back("X-Amz-Security-Token", credentials.session_token);
  r.added_headers.emplace_back("X-Amz-Date", date);
  if (params.sign_body) r.added_headers.emplace_back("x-amz-content-sha256", payload_hash);
  for (const auto& h : r.added_headers) {
    if (h.first == "X-Amz-Security-Token" && params.omit_session_token) continue;
    to_sign.push_back(h);
  }
  CanonicalHeaders ch = canonical_headers(to_sign);
  r.canonical_request =
      canonical_request(request.method, canonical_uri(request.path, params.normalize_path),
                        canonical_query(request.query), ch, payload_hash);
  std::string scope = credential_scope(day, params.region, params.service);
  r.string_to_sign = string_to_sign(date, scope, r.canonical_request);
  r.signature = signature(credentials.secret_access_key, day, params.region, params.service,
                          r.string_to_sign);
  r.added_headers.emplace_back(
      "Authorization", std::string(kAlgorithm) + " Credential=" + credentials.access_key_id + "/" +
                           scope + ", SignedHeaders=" + ch.signed_list +
                           ", Signature=" + r.signature);
  return r;
}

SigningResult sign_with_query(const SignableRequest& request, const Credentials& credentials,
                              const SigningParams& params) {
  SigningResult r;
  std::string date = amz_date(params.time);
  std::string day = amz_day(params.time);
  std::string scope = credential_scope(day, params.region, params.service);
  CanonicalHeaders ch = canonical_headers(request.headers);
  r.added_query = {{"X-Amz-Algorithm", std::string(kAlgorithm)},
                   {"X-Amz-Credential", credentials.access_key_id + "/" + scope},
                   {"X-Amz-Date", date},
                   {"X-Amz-SignedHeaders", ch.signed_list},
                   {"X-Amz-Expires", std::to_string(params.expires.count())}};
  std::string query = request.query;
  auto append = [&](const std::string& k, const std::string& v) {
    if (!query.empty()) query.push_back('&');
    query += net::percent_encode(k) + "=" + net::percent_encode(v);
  };
  for (const auto& [k, v] : r.added_query)
    append(k, v);
  if (!credentials.session_token.empty() && !params.omit_session_token) {
    append("X-Amz-Security-Token", credentials.session_token);
  }
  r.canonical_request =
      canonical_request(request.method, canonical_uri(request.path, params.normalize_path),
                        canonical_query(query), ch, sha256_hex(request.body));
  r.string_to_sign = string_to_sign(date, scope, r.canonical_request);
  r.signature = signature(credentials.secret_access_key, day, params.region, params.service,
                          r.string_to_sign);
  if (!credentials.session_token.empty())
    r.added_query.emplace_back("X-Amz-Security-Token", credentials.session_token);
  r.added_query.emplace_back("X-Amz-Signature", r.signature);
  return r;
}

std::optional<ParsedAuthorization> parse_authorization(std::string_view header) {
  if (!header.starts_with(kAlgorithm) || header.size() <= kAlgorithm.size() ||
      header[kAlgorithm.size()] != ' ') {
    return std::nullopt;
  }
  std::string_view rest = header.substr(kAlgorithm.size() + 1);
  ParsedAuthorization out;
  bool have_cred = false, have_signed = false, have_sig = false;
  while (!rest.empty()) {
    while (!rest.empty() && (rest.front() == ' ' || rest.front() == ','))
      rest.remove_prefix(1);
    size_t comma = rest.find(',');
    std::string_view part = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    size_t eq = part.find('=');
    if (eq == std::string_view::npos) {
      if (part.empty()) continue;
      return std::nullopt;
    }
    std::string_view key = part.substr(0, eq);
    std::string_view value = part.substr(eq + 1);
    while (!value.empty() && value.back() == ' ')
      value.remove_suffix(1);
    if (key == "Credential") {
      std::vector<std::string> pieces;
      size_t p = 0;
      while (true) {
        size_t slash = value.find('/', p);
        pieces.emplace_back(
            value.substr(p, slash == std::string_view::npos ? std::string_view::npos : slash - p));
        if (slash == std::string_view::npos) break;
        p = slash + 1;
      }
      if (pieces.size() != 5 || pieces[4] != "aws4_request" || pieces[0].empty())
        return std::nullopt;
      out.access_key_id = pieces[0];
      out.day = pieces[1];
      out.region = pieces[2];
      out.service = pieces[3];
      have_cred = true;
    } else if (key == "SignedHeaders") {
      size_t p = 0;
      while (p <= value.size()) {
        size_t semi = value.find(';', p);
        std::string_view name =
            value.substr(p, semi == std::string_view::npos ? std::string_view::npos : semi - p);
        if (name.empty()) return std::nullopt;
        out.signed_headers.emplace_back(name);
        if (semi == std::string_view::npos) break;
        p = semi + 1;
      }
      have_signed = true;
    } else if (key == "Signature") {
      out.signature = std::string(value);
      have_sig = !out.signature.empty();
    }
  }
  if (!have_cred || !have_signed || !have_sig) return std::nullopt;
  return out;
}

}  // namespace gpupool::aws
