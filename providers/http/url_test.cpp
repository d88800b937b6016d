#include "providers/http/url.h"

#include <gtest/gtest.h>

#include "providers/http/hash.h"

namespace gpupool::net {
namespace {

TEST(Url, ParsesSchemeHostPortPathQuery) {
  auto u = parse_url("http://127.0.0.1:8080/gpu/plans/vms?a=1&b=2#frag");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->scheme, "http");
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, 8080);
  EXPECT_EQ(u->path, "/gpu/plans/vms");
  EXPECT_EQ(u->query, "a=1&b=2");
  EXPECT_EQ(u->host_header(), "127.0.0.1:8080");
  auto v = parse_url("https://ec2.us-east-1.amazonaws.com");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->path, "/");
  EXPECT_EQ(v->host_header(), "ec2.us-east-1.amazonaws.com");
  auto w = parse_url("https://example.com:443/x");
  ASSERT_TRUE(w);
  EXPECT_EQ(w->host_header(), "example.com");
}

TEST(Url, RejectsMalformed) {
  EXPECT_FALSE(parse_url("ftp://x/"));
  EXPECT_FALSE(parse_url("no-scheme"));
  EXPECT_FALSE(parse_url("http://:80/"));
  EXPECT_FALSE(parse_url("http://host:99999/"));
  EXPECT_FALSE(parse_url("http://host:abc/"));
  EXPECT_FALSE(parse_url("http://user@host/"));
}

TEST(Url, PercentEncodingIsRfc3986) {
  EXPECT_EQ(percent_encode("a b/c~d*é"), "a%20b%2Fc~d%2A%C3%A9");
  EXPECT_EQ(percent_encode("/a b/", true), "/a%20b/");
  EXPECT_EQ(percent_decode("a%20b+c%2x"), "a b+c%2x");
  EXPECT_EQ(percent_decode("a+b", true), "a b");
  EXPECT_EQ(percent_decode("%"), "%");
  EXPECT_EQ(percent_decode("%4"), "%4");
}

TEST(Url, QueryRoundTrip) {
  Params p = parse_query("Action=RunInstances&Tag.1.Key=gpupool.io%2Fpool&empty&x=");
  ASSERT_EQ(p.size(), 4u);
  EXPECT_EQ(p[1].second, "gpupool.io/pool");
  EXPECT_EQ(p[2].first, "empty");
  EXPECT_EQ(p[2].second, "");
  EXPECT_EQ(encode_query({{"a b", "c/d"}, {"e", ""}}), "a%20b=c%2Fd&e=");
}

TEST(Base64, RoundTripsAndRejectsGarbage) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("#!/bin/sh\n"), "IyEvYmluL3NoCg==");
  EXPECT_EQ(base64_decode("Zm9vYg=="), "foob");
  EXPECT_EQ(base64_decode("Zm8"), "fo");
  EXPECT_FALSE(base64_decode("Z"));
  EXPECT_FALSE(base64_decode("Zm9v!"));
}

TEST(Hash, Sha256MatchesKnownVector) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace gpupool::net
