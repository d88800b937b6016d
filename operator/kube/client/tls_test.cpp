// TLS behaviour of HttpKubeClient against a small loopback TLS server built
// on OpenSSL with certificates generated in the test: the server is verified
// against the configured CA (and fails against another), insecure mode skips
// verification, tls-server-name selects the name checked, and a configured
// client certificate is presented.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>

#include "operator/kube/client/http_client.h"

namespace gpupool::kube {
namespace {

struct Pem {
  std::string cert;
  std::string key;
};

std::string bio_string(BIO* b) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(b, &data);
  return std::string(data, static_cast<size_t>(n));
}

// A self-signed certificate (usable as its own CA) for `cn` with `san`.
Pem make_cert(const std::string& cn, const std::string& san) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* x = X509_new();
  X509_set_version(x, 2);
  static int serial = 1;
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600 * 24);
  X509_set_pubkey(x, key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(x, name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, x, x, nullptr, nullptr, 0);
  for (const auto& [nid, value] :
       {std::pair<int, std::string>{NID_basic_constraints, "critical,CA:TRUE"},
        {NID_key_usage, "critical,digitalSignature,keyCertSign"},
        {NID_subject_alt_name, san}}) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
  }
  X509_sign(x, key, EVP_sha256());
  BIO* cb = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(cb, x);
  BIO* kb = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(kb, key, nullptr, nullptr, 0, nullptr, nullptr);
  Pem out{bio_string(cb), bio_string(kb)};
  BIO_free(cb);
  BIO_free(kb);
  X509_free(x);
  EVP_PKEY_free(key);
  return out;
}

// Serves every TLS connection with one JSON answer naming the client
// certificate's CN ("" when none).
class TlsServer {
 public:
  TlsServer(const Pem& server, const Pem* client_ca) {
    // The server writes to clients that may have hung up (a rejected
    // handshake); OpenSSL's socket BIO uses write(), so ignore SIGPIPE.
    signal(SIGPIPE, SIG_IGN);
    ctx_ = SSL_CTX_new(TLS_server_method());
    BIO* cb = BIO_new_mem_buf(server.cert.data(), static_cast<int>(server.cert.size()));
    X509* cert = PEM_read_bio_X509(cb, nullptr, nullptr, nullptr);
    BIO* kb = BIO_new_mem_buf(server.key.data(), static_cast<int>(server.key.size()));
    EVP_PKEY* key = PEM_read_bio_PrivateKey(kb, nullptr, nullptr, nullptr);
    SSL_CTX_use_certificate(ctx_, cert);
    SSL_CTX_use_PrivateKey(ctx_, key);
    X509_free(cert);
    EVP_PKEY_free(key);
    BIO_free(cb);
    BIO_free(kb);
    if (client_ca != nullptr) {
      BIO* ab = BIO_new_mem_buf(client_ca->cert.data(), static_cast<int>(client_ca->cert.size()));
      X509* ca = PEM_read_bio_X509(ab, nullptr, nullptr, nullptr);
      X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx_), ca);
      X509_free(ca);
      BIO_free(ab);
      SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    }
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    listen(fd_, 8);
    socklen_t len = sizeof addr;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { loop(); });
  }
  ~TlsServer() {
    stop_ = true;
    thread_.join();
    close(fd_);
    SSL_CTX_free(ctx_);
  }
  std::string url() const { return "https://127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }

 private:
  void loop() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 20) <= 0) continue;
      const int c = accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      SSL* ssl = SSL_new(ctx_);
      SSL_set_fd(ssl, c);
      if (SSL_accept(ssl) == 1) {
        std::string req;
        char buf[4096];
        while (req.find("\r\n\r\n") == std::string::npos) {
          const int n = SSL_read(ssl, buf, sizeof buf);
          if (n <= 0) break;
          req.append(buf, static_cast<size_t>(n));
        }
        std::string cn;
        if (X509* peer = SSL_get1_peer_certificate(ssl)) {
          char name[256] = {0};
          X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, name, sizeof name);
          cn = name;
          X509_free(peer);
        }
        const std::string body = R"({"metadata":{"name":"tls"},"clientCN":")" + cn + "\"}";
        const std::string resp =
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            "Connection: close\r\nContent-Length: " +
            std::to_string(body.size()) + "\r\n\r\n" + body;
        SSL_write(ssl, resp.data(), static_cast<int>(resp.size()));
        SSL_shutdown(ssl);
      }
      SSL_free(ssl);
      close(c);
    }
  }

  SSL_CTX* ctx_ = nullptr;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

const Resource kNodes{"", "v1", "nodes", "Node", false};

SystemClock& clock() {
  static SystemClock c;
  return c;
}

ClientConfig base(const TlsServer& s) {
  ClientConfig c;
  c.server = s.url();
  c.qps = 0;
  c.request_timeout = std::chrono::milliseconds(5000);
  return c;
}

TEST(Tls, VerifiesServerAgainstConfiguredCa) {
  const Pem server = make_cert("apiserver", "IP:127.0.0.1");
  const Pem other = make_cert("someone-else", "IP:127.0.0.1");
  TlsServer s(server, nullptr);
  ClientConfig good = base(s);
  good.ca_pem = server.cert;
  auto ok = HttpKubeClient(good, clock()).get(kNodes, "", "n");
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ((*ok)["metadata"]["name"], "tls");

  ClientConfig wrong = base(s);
  wrong.ca_pem = other.cert;
  auto bad = HttpKubeClient(wrong, clock()).get(kNodes, "", "n");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().kind, ErrorKind::Unavailable);

  ClientConfig insecure = base(s);
  insecure.insecure_skip_tls_verify = true;
  EXPECT_TRUE(HttpKubeClient(insecure, clock()).get(kNodes, "", "n").ok());
}

TEST(Tls, TlsServerNameSelectsTheVerifiedName) {
  const Pem server = make_cert("apiserver", "DNS:api.internal");
  TlsServer s(server, nullptr);
  ClientConfig by_ip = base(s);
  by_ip.ca_pem = server.cert;
  EXPECT_FALSE(HttpKubeClient(by_ip, clock()).get(kNodes, "", "n").ok())
      << "the certificate does not name 127.0.0.1";
  ClientConfig named = by_ip;
  named.tls_server_name = "api.internal";
  auto r = HttpKubeClient(named, clock()).get(kNodes, "", "n");
  EXPECT_TRUE(r.ok()) << r.error().message;
}

TEST(Tls, PresentsClientCertificate) {
  const Pem server = make_cert("apiserver", "IP:127.0.0.1");
  const Pem alice = make_cert("alice", "DNS:alice");
  TlsServer s(server, &alice);
  ClientConfig c = base(s);
  c.ca_pem = server.cert;
  c.credentials = CredentialSource::fixed({"", alice.cert, alice.key});
  auto r = HttpKubeClient(c, clock()).get(kNodes, "", "n");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ((*r)["clientCN"], "alice");
  ClientConfig anonymous = base(s);
  anonymous.ca_pem = server.cert;
  auto a = HttpKubeClient(anonymous, clock()).get(kNodes, "", "n");
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_EQ((*a)["clientCN"], "");
}

}  // namespace
}  // namespace gpupool::kube
