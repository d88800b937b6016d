#include "providers/http/client.h"

#include <gtest/gtest.h>

#include "providers/http/fake_transport.h"
#include "providers/http/json_api.h"
#include "providers/http/json_fields.h"
#include "providers/http/provider_errors.h"

namespace gpupool::net {
namespace {

using std::chrono::seconds;

class ClientTest : public ::testing::Test {
 protected:
  ClientTest() : clock_(Time(seconds(1'700'000'000))), sleeper_(&clock_) {}

  HttpClient make(ClientOptions o = {}) {
    o.jitter_seed = 7;
    o.log = [this](std::string_view line) { log_.emplace_back(line); };
    return HttpClient(transport_, clock_, sleeper_, std::move(o));
  }

  static Request get(std::string url = "http://h/x") {
    Request r;
    r.url = std::move(url);
    return r;
  }

  FakeClock clock_;
  FakeSleeper sleeper_;
  FakeTransport transport_;
  std::vector<std::string> log_;
};

TEST_F(ClientTest, RetriesServerErrorsWithGrowingJitteredBackoff) {
  transport_.push(make_response(500));
  transport_.push(make_response(502));
  transport_.push(make_response(200, "ok"));
  ClientOptions o;
  o.initial_backoff = Millis(100);
  HttpClient c = make(o);
  Outcome out = c.send(get());
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out.response->status, 200);
  EXPECT_EQ(out.attempts, 3);
  auto waits = sleeper_.waits();
  ASSERT_EQ(waits.size(), 2u);
  EXPECT_GE(waits[0], Millis(50));
  EXPECT_LE(waits[0], Millis(100));
  EXPECT_GE(waits[1], Millis(100));
  EXPECT_LE(waits[1], Millis(200));
}

TEST_F(ClientTest, GivesUpAfterMaxAttemptsAndReturnsLastResponse) {
  transport_.set_handler(
      [](const Request&) -> TransportResult { return make_response(503, "busy"); });
  ClientOptions o;
  o.max_attempts = 3;
  HttpClient c = make(o);
  Outcome out = c.send(get());
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out.response->status, 503);
  EXPECT_EQ(transport_.request_count(), 3u);
}

TEST_F(ClientTest, NeverRetriesAuthOrValidationErrors) {
  for (int status : {400, 401, 403, 404, 409, 422}) {
    transport_.push(make_response(status));
    HttpClient c = make();
    Outcome out = c.send(get());
    ASSERT_TRUE(out.ok());
    EXPECT_EQ(out.response->status, status);
    EXPECT_EQ(out.attempts, 1);
  }
  EXPECT_EQ(transport_.request_count(), 6u);
  EXPECT_TRUE(sleeper_.waits().empty());
}

TEST_F(ClientTest, HonoursRetryAfterSecondsOn429) {
  transport_.push(make_response(429, "", {{"Retry-After", "7"}}));
  transport_.push(make_response(200));
  HttpClient c = make();
  Outcome out = c.send(get());
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out.response->status, 200);
  ASSERT_EQ(sleeper_.waits().size(), 1u);
  EXPECT_GE(sleeper_.waits()[0], Millis(7000));
}

TEST_F(ClientTest, ReturnsLongRetryAfterToCallerInsteadOfWaiting) {
  transport_.push(make_response(429, "", {{"retry-after", "3600"}}));
  HttpClient c = make();
  Outcome out = c.send(get());
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out.response->status, 429);
  EXPECT_EQ(out.retry_after, Millis(3'600'000));
  EXPECT_EQ(transport_.request_count(), 1u);
}

// A sleeper that is stopped during the first wait (shutdown).
class StoppingSleeper final : public Sleeper {
 public:
  void sleep_for(Millis d) override {
    waits.push_back(d);
    stopped_ = true;
  }
  bool stopped() const override { return stopped_; }
  std::vector<Millis> waits;

 private:
  bool stopped_ = false;
};

TEST_F(ClientTest, AfterShutdownStopsAWaitNothingMoreIsSentAndTheLastAnswerIsReturned) {
  transport_.set_handler(
      [](const Request&) -> TransportResult { return make_response(503, "busy"); });
  StoppingSleeper stopping;
  ClientOptions o;
  o.max_attempts = 5;
  HttpClient c(transport_, clock_, stopping, o);
  Outcome out = c.send(get());
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out.response->status, 503) << "the answer before the interrupted backoff";
  EXPECT_EQ(c.requests_sent(), 1) << "no retry after the wait was cut short";
  EXPECT_EQ(stopping.waits.size(), 1u);

  // Already stopped: a request that does not have to wait is still sent
  // (in-flight work finishes); one that waits on the rate limit is not.
  transport_.set_handler([](const Request&) -> TransportResult { return make_response(200); });
  EXPECT_TRUE(c.send(get()).ok());
  ClientOptions limited;
  limited.rate_per_second = 1;
  limited.burst = 1;
  HttpClient slow(transport_, clock_, stopping, limited);
  EXPECT_TRUE(slow.send(get()).ok());  // the burst token: no wait
  Outcome refused = slow.send(get());  // would wait a second for a token
  ASSERT_FALSE(refused.ok());
  ASSERT_TRUE(refused.error);
  EXPECT_EQ(refused.error->kind, TransportErrorKind::Connect);
  EXPECT_EQ(refused.error->message, "shutting down: request not sent");
}

TEST(RetryAfter, ParsesSecondsAndHttpDate) {
  Time now = std::chrono::sys_days(std::chrono::year(1994) / 11 / 6) + std::chrono::hours(8) +
             std::chrono::minutes(49) + std::chrono::seconds(30);
  EXPECT_EQ(parse_retry_after("120", now), Millis(120'000));
  EXPECT_EQ(parse_retry_after(" 0 ", now), Millis(0));
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now), Millis(7000));
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:40:00 GMT", now), Millis(0));
  EXPECT_FALSE(parse_retry_after("soon", now));
  EXPECT_FALSE(parse_retry_after("-5", now));
  EXPECT_FALSE(parse_retry_after("Sun, 06 Foo 1994 08:49:37 GMT", now));
  EXPECT_FALSE(parse_retry_after("Sun, 31 Feb 1994 08:49:37 GMT", now));
  EXPECT_FALSE(parse_retry_after("", now));
}

TEST_F(ClientTest, NonIdempotentRequestsRetryOnlyWhenCertainlyNotSent) {
  Request post = get();
  post.method = "POST";
  post.idempotent = false;
  transport_.push_error(TransportErrorKind::Timeout);
  HttpClient c = make();
  Outcome out = c.send(post);
  EXPECT_FALSE(out.ok());
  EXPECT_EQ(out.error->kind, TransportErrorKind::Timeout);
  EXPECT_EQ(transport_.request_count(), 1u);

  transport_.push(make_response(500));
  Outcome out2 = c.send(post);
  EXPECT_EQ(out2.response->status, 500);
  EXPECT_EQ(transport_.request_count(), 2u);

  transport_.push_error(TransportErrorKind::Connect);
  transport_.push(make_response(201));
  Outcome out3 = c.send(post);
  ASSERT_TRUE(out3.ok());
  EXPECT_EQ(out3.response->status, 201);
  EXPECT_EQ(transport_.request_count(), 4u);
}

TEST_F(ClientTest, IdempotentRequestsRetryTimeouts) {
  transport_.push_error(TransportErrorKind::Timeout);
  transport_.push_error(TransportErrorKind::Broken);
  transport_.push(make_response(200));
  HttpClient c = make();
  EXPECT_TRUE(c.send(get()).ok());
  EXPECT_EQ(transport_.request_count(), 3u);
  EXPECT_EQ(c.requests_sent(), 3);
}

TEST_F(ClientTest, TlsErrorsAreNotRetried) {
  transport_.push_error(TransportErrorKind::Tls, "certificate verify failed");
  HttpClient c = make();
  Outcome out = c.send(get());
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error->kind, TransportErrorKind::Tls);
  EXPECT_EQ(transport_.request_count(), 1u);
}

TEST_F(ClientTest, HookRecognisesProviderThrottlingAndFinalAnswers) {
  ClientOptions o;
  o.hook = [](const Response& r) {
    if (r.body.find("RequestLimitExceeded") != std::string::npos) {
      return RetryAdvice{RetryAdvice::Action::Retry, Millis(1500)};
    }
    if (r.body.find("InsufficientInstanceCapacity") != std::string::npos) {
      return RetryAdvice{RetryAdvice::Action::DontRetry, Millis(0)};
    }
    return RetryAdvice{};
  };
  transport_.push(make_response(400, "<Code>RequestLimitExceeded</Code>"));
  transport_.push(make_response(200));
  HttpClient c = make(o);
  EXPECT_EQ(c.send(get()).response->status, 200);
  EXPECT_GE(sleeper_.waits().at(0), Millis(1500));

  transport_.push(make_response(500, "<Code>InsufficientInstanceCapacity</Code>"));
  Outcome out = c.send(get());
  EXPECT_EQ(out.response->status, 500);
  EXPECT_EQ(out.attempts, 1);
}

TEST_F(ClientTest, TokenBucketSpacesRequests) {
  transport_.set_handler([](const Request&) -> TransportResult { return make_response(200); });
  ClientOptions o;
  o.rate_per_second = 2;
  o.burst = 2;
  HttpClient c = make(o);
  for (int i = 0; i < 4; ++i)
    EXPECT_TRUE(c.send(get()).ok());
  auto waits = sleeper_.waits();
  // Two from the burst, then each further request waits for half a second.
  ASSERT_EQ(waits.size(), 2u);
  EXPECT_EQ(waits[0], Millis(500));
  EXPECT_GE(waits[1], Millis(500));
}

TEST(TokenBucket, RefillsWithTimeAndDisabledWhenRateIsZero) {
  FakeClock clock(Time(seconds(100)));
  TokenBucket b(clock, 1, 1);
  EXPECT_EQ(b.acquire(), Millis(0));
  EXPECT_EQ(b.acquire(), Millis(1000));
  clock.advance(seconds(5));
  EXPECT_EQ(b.acquire(), Millis(0));
  TokenBucket off(clock, 0, 1);
  for (int i = 0; i < 10; ++i)
    EXPECT_EQ(off.acquire(), Millis(0));
}

TEST_F(ClientTest, BaseUrlOverrideAndRedactedLogging) {
  transport_.push(make_response(200, R"({"instance_id":"i-1","api_key":"leak-me"})",
                                {{"Content-Type", "application/json"}}));
  ClientOptions o;
  o.base_url = "http://127.0.0.1:9";
  o.provider = "fluence";
  HttpClient c = make(o);
  Request r = get("/gpu/instances/vms?api_key=q-secret");
  r.method = "POST";
  r.headers = {{"X-API-KEY", "header-secret"}, {"Content-Type", "application/json"}};
  r.body = R"({"name":"vm","password":"body-secret"})";
  ASSERT_TRUE(c.send(r).ok());
  EXPECT_EQ(transport_.requests().at(0).url,
            "http://127.0.0.1:9/gpu/instances/vms?api_key=q-secret");
  ASSERT_EQ(log_.size(), 2u);
  for (const auto& line : log_) {
    EXPECT_EQ(line.find("header-secret"), std::string::npos) << line;
    EXPECT_EQ(line.find("body-secret"), std::string::npos) << line;
    EXPECT_EQ(line.find("q-secret"), std::string::npos) << line;
    EXPECT_EQ(line.find("leak-me"), std::string::npos) << line;
  }
  EXPECT_NE(log_[0].find("fluence -> POST"), std::string::npos);
  EXPECT_NE(log_[1].find("status=200"), std::string::npos);
  EXPECT_NE(log_[1].find("i-1"), std::string::npos);
}

// Found by fuzz_provider_lambda / _scaleway / _verda: a provider id, offer
// id or script with a stray byte made nlohmann's dump() throw type_error out
// of terminate() and create(); request bodies now replace such bytes.
TEST(JsonText, BytesThatAreNotUtf8BecomeReplacementCharacters) {
  const nlohmann::json body = {{"instance_ids", {std::string("i-\xc6\x1b", 4)}}};
  std::string text;
  ASSERT_NO_THROW(text = json_text(body));
  EXPECT_EQ(text, "{\"instance_ids\":[\"i-\xef\xbf\xbd\\u001b\"]}");
  EXPECT_EQ(json_text(nlohmann::json{{"a", "caf\xc3\xa9"}}), "{\"a\":\"caf\xc3\xa9\"}");
}

}  // namespace
}  // namespace gpupool::net

namespace gpupool::net {
namespace {

// A JsonApi whose credentials are "tok-<n>" (n = renewals so far), and
// whose renew_auth, when `renewable`, counts its calls.
class JsonApiTest : public ClientTest {
 protected:
  JsonApi make_api(HttpClient& client, bool renewable) {
    ApiSpec spec{.label = "Test",
                 .endpoint = "http://h",
                 .auth = [this]() -> ProviderResult<Headers> {
                   return Headers{{"Authorization", "tok-" + std::to_string(renewals_)}};
                 },
                 .map_error =
                     [](int status, std::string_view body, Millis retry_after) {
                       return status_failure(status, std::string(body), retry_after);
                     }};
    if (renewable) {
      spec.renew_auth = [this]() -> ProviderStatus {
        ++renewals_;
        return ProviderStatus::success();
      };
    }
    return JsonApi(client, std::move(spec));
  }
  int renewals_ = 0;
};

TEST_F(JsonApiTest, A401RenewsTheCredentialsOnceAndRepeatsTheRequestOnce) {
  HttpClient client = make(api_client_options({}, "test", "http://h/"));
  JsonApi api = make_api(client, /*renewable=*/true);
  transport_.push(make_response(401, "expired"));
  transport_.push(make_response(200, "ok"));
  auto ok = api.call("get", "GET", "/x", "", true);
  ASSERT_TRUE(ok.ok()) << describe(ok.error());
  EXPECT_EQ(*ok, "ok");
  EXPECT_EQ(renewals_, 1);
  ASSERT_EQ(transport_.request_count(), 2u);
  EXPECT_EQ(find_header(transport_.requests()[1].headers, "authorization"), "tok-1");
  // Rejected again after the renewal: final, no loop.
  transport_.push(make_response(401, "revoked"));
  transport_.push(make_response(401, "revoked"));
  auto no = api.call("get", "GET", "/x", "", true);
  ASSERT_FALSE(no.ok());
  EXPECT_EQ(no.error().kind, ProviderErrorKind::Unauthorized);
  EXPECT_EQ(renewals_, 2);
  EXPECT_EQ(transport_.request_count(), 4u);
}

TEST_F(JsonApiTest, WithoutARenewalA401IsFinal) {
  HttpClient client = make(api_client_options({}, "test", "http://h"));
  JsonApi api = make_api(client, /*renewable=*/false);
  transport_.push(make_response(401, "expired"));
  auto no = api.call("get", "GET", "/x", "", true);
  ASSERT_FALSE(no.ok());
  EXPECT_EQ(no.error().kind, ProviderErrorKind::Unauthorized);
  EXPECT_EQ(transport_.request_count(), 1u);
}

TEST(HeaderAuth, SendsItsOwnCopyOfTheSecretAndRefusesAnEmptyOne) {
  std::string key = "k-1";
  auto auth = header_auth("X-Auth-Token", "", key, "key is missing");
  key = "changed";
  auto h = auth();
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(*h, (Headers{{"X-Auth-Token", "k-1"}}));
  auto bearer = bearer_auth("t", "token is missing")();
  ASSERT_TRUE(bearer.ok());
  EXPECT_EQ(*bearer, (Headers{{"Authorization", "Bearer t"}}));
  auto missing = header_auth("X-Auth-Token", "", "", "key is missing")();
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind, ProviderErrorKind::Unauthorized);
  EXPECT_EQ(missing.error().message, "key is missing");
}

}  // namespace
}  // namespace gpupool::net
