// Runs every case of the AWS SigV4 test suite (shared/reference/
// aws-sigv4-test-suite, beside the repository) through our signer and
// compares canonical request, string to sign, signature and signed request,
// for header signing and query signing. A missing suite is a failure.
#include "providers/aws/sigv4.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace gpupool::aws {
namespace {

namespace fs = std::filesystem;

fs::path suite_dir() {
  const char* src = std::getenv("GPUPOOL_SOURCE_DIR");
  fs::path root = src != nullptr ? fs::path(src) : fs::current_path();
  return root / ".." / "shared" / "reference" / "aws-sigv4-test-suite";
}

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Case {
  std::string name;
  SignableRequest request;
  std::string raw_head;  // request line + header lines as in request.txt (no trailing newline)
  std::string request_line_path;
  std::string version;
  std::vector<std::string> raw_header_lines;
  Credentials credentials;
  SigningParams params;
};

// Parses request.txt: request line, header lines (continuation lines start
// with whitespace and fold into the previous header), blank line, body.
Case load(const fs::path& dir) {
  Case c;
  c.name = dir.filename().string();
  std::string text = read(dir / "request.txt");
  size_t blank = text.find("\n\n");
  std::string head = text.substr(0, blank);
  if (blank != std::string::npos) c.request.body = text.substr(blank + 2);
  while (!head.empty() && head.back() == '\n')
    head.pop_back();
  std::vector<std::string> lines;
  std::stringstream ss(head);
  for (std::string line; std::getline(ss, line);)
    lines.push_back(line);
  const std::string& rl = lines.at(0);
  size_t sp = rl.find(' ');
  size_t ver = rl.rfind(" HTTP/");
  c.request.method = rl.substr(0, sp);
  std::string target = rl.substr(sp + 1, ver - sp - 1);
  c.version = rl.substr(ver + 1);
  size_t q = target.find('?');
  c.request.path = target.substr(0, q);
  if (q != std::string::npos) c.request.query = target.substr(q + 1);
  for (size_t i = 1; i < lines.size(); ++i) {
    c.raw_header_lines.push_back(lines[i]);
    if (!lines[i].empty() && (lines[i][0] == ' ' || lines[i][0] == '\t')) {
      c.request.headers.back().second += " " + lines[i];
      continue;
    }
    size_t colon = lines[i].find(':');
    c.request.headers.emplace_back(lines[i].substr(0, colon), lines[i].substr(colon + 1));
  }
  auto ctx = nlohmann::json::parse(read(dir / "context.json"));
  c.credentials.access_key_id = ctx["credentials"]["access_key_id"].get<std::string>();
  c.credentials.secret_access_key = ctx["credentials"]["secret_access_key"].get<std::string>();
  if (ctx["credentials"].contains("token"))
    c.credentials.session_token = ctx["credentials"]["token"].get<std::string>();
  c.params.region = ctx["region"].get<std::string>();
  c.params.service = ctx["service"].get<std::string>();
  c.params.normalize_path = ctx.value("normalize", true);
  c.params.sign_body = ctx.value("sign_body", false);
  c.params.omit_session_token = ctx.value("omit_session_token", false);
  c.params.expires = Duration(ctx.value("expiration_in_seconds", 3600));
  Time t{};
  EXPECT_TRUE(parse_rfc3339(ctx["timestamp"].get<std::string>(), t));
  c.params.time = t;
  return c;
}

std::string signed_request_text(const Case& c, const net::Headers& added_headers,
                                const std::string& target) {
  std::string out = c.request.method + " " + target + " " + c.version + "\n";
  for (const auto& l : c.raw_header_lines)
    out += l + "\n";
  for (const auto& [k, v] : added_headers)
    out += k + ":" + v + "\n";
  out += "\n" + c.request.body;
  return out;
}

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r'))
    s.pop_back();
  return s;
}

std::vector<fs::path> all_cases() {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(suite_dir(), ec)) {
    if (e.is_directory() && fs::exists(e.path() / "request.txt")) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(SigV4Suite, SuiteIsPresent) {
  ASSERT_TRUE(fs::is_directory(suite_dir())) << "SigV4 test suite missing at " << suite_dir()
                                             << " (the repository expects shared/ beside it)";
  EXPECT_GE(all_cases().size(), 30u);
}

TEST(SigV4Suite, HeaderSigningReproducesEveryCase) {
  auto cases = all_cases();
  ASSERT_FALSE(cases.empty()) << "no cases under " << suite_dir();
  for (const auto& dir : cases) {
    SCOPED_TRACE(dir.filename().string());
    Case c = load(dir);
    SigningResult r = sign_with_headers(c.request, c.credentials, c.params);
    EXPECT_EQ(r.canonical_request, trimmed(read(dir / "header-canonical-request.txt")));
    EXPECT_EQ(r.string_to_sign, trimmed(read(dir / "header-string-to-sign.txt")));
    EXPECT_EQ(r.signature, trimmed(read(dir / "header-signature.txt")));
    std::string target = c.request.path + (c.request.query.empty() ? "" : "?" + c.request.query);
    EXPECT_EQ(signed_request_text(c, r.added_headers, target),
              read(dir / "header-signed-request.txt"));
  }
}

TEST(SigV4Suite, QuerySigningReproducesEveryCase) {
  auto cases = all_cases();
  ASSERT_FALSE(cases.empty());
  for (const auto& dir : cases) {
    SCOPED_TRACE(dir.filename().string());
    Case c = load(dir);
    SigningResult r = sign_with_query(c.request, c.credentials, c.params);
    EXPECT_EQ(r.canonical_request, trimmed(read(dir / "query-canonical-request.txt")));
    EXPECT_EQ(r.string_to_sign, trimmed(read(dir / "query-string-to-sign.txt")));
    EXPECT_EQ(r.signature, trimmed(read(dir / "query-signature.txt")));
    std::string target = c.request.path + "?" + c.request.query +
                         (c.request.query.empty() ? "" : "&") + net::encode_query(r.added_query);
    EXPECT_EQ(signed_request_text(c, {}, target), read(dir / "query-signed-request.txt"));
  }
}

TEST(SigV4, DatesAndAuthorizationParsing) {
  Time t{};
  ASSERT_TRUE(parse_rfc3339("2015-08-30T12:36:00Z", t));
  EXPECT_EQ(amz_date(t), "20150830T123600Z");
  EXPECT_EQ(amz_day(t), "20150830");
  EXPECT_EQ(parse_amz_date("20150830T123600Z"), t);
  EXPECT_FALSE(parse_amz_date("20151330T123600Z"));
  EXPECT_FALSE(parse_amz_date("2015-08-30"));
  auto a = parse_authorization(
      "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/ec2/aws4_request, "
      "SignedHeaders=host;x-amz-date, "
      "Signature=abcd");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->access_key_id, "AKID");
  EXPECT_EQ(a->region, "us-east-1");
  EXPECT_EQ(a->service, "ec2");
  EXPECT_EQ(a->signed_headers, (std::vector<std::string>{"host", "x-amz-date"}));
  EXPECT_EQ(a->signature, "abcd");
  EXPECT_FALSE(parse_authorization("Bearer x"));
  EXPECT_FALSE(parse_authorization(
      "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/ec2, SignedHeaders=h, Signature=a"));
  EXPECT_FALSE(parse_authorization("AWS4-HMAC-SHA256 SignedHeaders=host, Signature=a"));
  EXPECT_FALSE(parse_authorization(
      "AWS4-HMAC-SHA256 Credential=A/d/r/s/aws4_request, SignedHeaders=a;;b, Signature=x"));
}

}  // namespace
}  // namespace gpupool::aws
