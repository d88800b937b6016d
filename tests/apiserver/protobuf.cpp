// Decodes the Kubernetes protobuf request bodies kubectl's typed commands
// send (`kubectl create namespace|configmap|secret`) into JSON. Only the
// kinds and fields those commands write are understood; anything else is
// reported so the server can answer 415.

#include "tests/apiserver/protobuf.h"

#include <cstdint>

namespace gpupool::apiserver {

namespace {

class Reader {
 public:
  explicit Reader(std::string_view d) : d_(d) {}
  bool done() const { return pos_ >= d_.size(); }
  bool varint(uint64_t& out) {
    out = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= d_.size()) return false;
      auto b = static_cast<uint8_t>(d_[pos_++]);
      out |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return true;
    }
    return false;
  }
  // Reads a tag; wire type in `wire`.
  bool tag(uint32_t& field, uint32_t& wire) {
    uint64_t t;
    if (!varint(t) || t > 0xffffffffu) return false;
    field = static_cast<uint32_t>(t >> 3);
    wire = static_cast<uint32_t>(t & 7);
    return field != 0;
  }
  bool bytes(std::string_view& out) {
    uint64_t n;
    if (!varint(n) || n > d_.size() - pos_) return false;
    out = d_.substr(pos_, static_cast<size_t>(n));
    pos_ += static_cast<size_t>(n);
    return true;
  }
  bool skip(uint32_t wire) {
    uint64_t v;
    std::string_view s;
    switch (wire) {
      case 0:
        return varint(v);
      case 1:
        return advance(8);
      case 2:
        return bytes(s);
      case 5:
        return advance(4);
      default:
        return false;
    }
  }

 private:
  bool advance(size_t n) {
    if (n > d_.size() - pos_) return false;
    pos_ += n;
    return true;
  }
  std::string_view d_;
  size_t pos_ = 0;
};

std::string base64(std::string_view in) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t n =
        (uint32_t(uint8_t(in[i])) << 16) | (uint32_t(uint8_t(in[i + 1])) << 8) | uint8_t(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6)
      out += k[(n >> s) & 63];
  }
  if (i < in.size()) {
    uint32_t n = uint32_t(uint8_t(in[i])) << 16;
    if (i + 1 < in.size()) n |= uint32_t(uint8_t(in[i + 1])) << 8;
    out += k[(n >> 18) & 63];
    out += k[(n >> 12) & 63];
    out += i + 1 < in.size() ? k[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

// map<string, string|bytes> entry {key=1, value=2}.
bool map_entry(std::string_view msg, std::string& key, std::string& value) {
  Reader r(msg);
  while (!r.done()) {
    uint32_t f, w;
    if (!r.tag(f, w)) return false;
    std::string_view s;
    if ((f == 1 || f == 2) && w == 2) {
      if (!r.bytes(s)) return false;
      (f == 1 ? key : value) = std::string(s);
    } else if (!r.skip(w)) {
      return false;
    }
  }
  return true;
}

bool owner_reference(std::string_view msg, Json& out) {
  Reader r(msg);
  out = Json::object();
  while (!r.done()) {
    uint32_t f, w;
    if (!r.tag(f, w)) return false;
    std::string_view s;
    uint64_t v;
    if (w == 2 && (f == 1 || f == 3 || f == 4 || f == 5)) {
      if (!r.bytes(s)) return false;
      const char* names[] = {"", "kind", "", "name", "uid", "apiVersion"};
      out[names[f]] = std::string(s);
    } else if (w == 0 && (f == 6 || f == 7)) {
      if (!r.varint(v)) return false;
      out[f == 6 ? "controller" : "blockOwnerDeletion"] = v != 0;
    } else if (!r.skip(w)) {
      return false;
    }
  }
  return true;
}

bool object_meta(std::string_view msg, Json& meta) {
  Reader r(msg);
  meta = Json::object();
  while (!r.done()) {
    uint32_t f, w;
    if (!r.tag(f, w)) return false;
    std::string_view s;
    uint64_t v;
    if (w == 2 && (f == 1 || f == 2 || f == 3 || f == 5 || f == 6)) {
      if (!r.bytes(s)) return false;
      const char* names[] = {"", "name", "generateName", "namespace", "", "uid", "resourceVersion"};
      meta[names[f]] = std::string(s);
    } else if (w == 2 && (f == 11 || f == 12)) {
      std::string k, val;
      if (!r.bytes(s) || !map_entry(s, k, val)) return false;
      meta[f == 11 ? "labels" : "annotations"][k] = val;
    } else if (w == 2 && f == 13) {
      Json ref;
      if (!r.bytes(s) || !owner_reference(s, ref)) return false;
      meta["ownerReferences"].push_back(ref);
    } else if (w == 2 && f == 14) {
      if (!r.bytes(s)) return false;
      meta["finalizers"].push_back(std::string(s));
    } else if (w == 0 && f == 7) {
      if (!r.varint(v)) return false;
      meta["generation"] = static_cast<int64_t>(v);
    } else if (!r.skip(w)) {
      return false;
    }
  }
  return true;
}

// Namespace {metadata=1, spec=2 {finalizers=1}}; ConfigMap {metadata=1,
// data=2, binaryData=3, immutable=4}; Secret {metadata=1, data=2 (bytes),
// type=3, stringData=4, immutable=5}.
bool decode_object(const std::string& kind, std::string_view raw, Json& obj, std::string& error) {
  Reader r(raw);
  while (!r.done()) {
    uint32_t f, w;
    if (!r.tag(f, w)) {
      error = "malformed protobuf";
      return false;
    }
    std::string_view s;
    uint64_t v;
    bool ok = true;
    if (f == 1 && w == 2) {
      Json meta;
      ok = r.bytes(s) && object_meta(s, meta);
      obj["metadata"] = meta;
    } else if (kind == "Namespace" && f == 2 && w == 2) {
      ok = r.bytes(s);
      Reader spec(s);
      obj["spec"] = Json::object();
      while (ok && !spec.done()) {
        uint32_t sf, sw;
        std::string_view fin;
        ok = spec.tag(sf, sw);
        if (ok && sf == 1 && sw == 2) {
          ok = spec.bytes(fin);
          obj["spec"]["finalizers"].push_back(std::string(fin));
        } else if (ok) {
          ok = spec.skip(sw);
        }
      }
    } else if ((kind == "ConfigMap" && (f == 2 || f == 3) && w == 2) ||
               (kind == "Secret" && (f == 2 || f == 4) && w == 2)) {
      std::string k, val;
      ok = r.bytes(s) && map_entry(s, k, val);
      bool binary = (kind == "ConfigMap" && f == 3) || (kind == "Secret" && f == 2);
      const char* field =
          kind == "ConfigMap" ? (f == 2 ? "data" : "binaryData") : (f == 2 ? "data" : "stringData");
      obj[field][k] = binary ? base64(val) : val;
    } else if (kind == "Secret" && f == 3 && w == 2) {
      ok = r.bytes(s);
      obj["type"] = std::string(s);
    } else if (((kind == "ConfigMap" && f == 4) || (kind == "Secret" && f == 5)) && w == 0) {
      ok = r.varint(v);
      obj["immutable"] = v != 0;
    } else {
      ok = r.skip(w);
    }
    if (!ok) {
      error = "malformed protobuf";
      return false;
    }
  }
  return true;
}

}  // namespace

std::optional<Json> decode_protobuf_object(const std::string& body, std::string& error) {
  static const std::string magic("k8s\0", 4);
  if (body.compare(0, 4, magic) != 0) {
    error = "protobuf body lacks the k8s envelope";
    return std::nullopt;
  }
  Reader r(std::string_view(body).substr(4));
  std::string api_version, kind;
  std::string_view raw;
  bool have_raw = false;
  while (!r.done()) {
    uint32_t f, w;
    std::string_view s;
    if (!r.tag(f, w)) {
      error = "malformed protobuf envelope";
      return std::nullopt;
    }
    if (f == 1 && w == 2) {
      if (!r.bytes(s)) break;
      Reader tm(s);
      while (!tm.done()) {
        uint32_t tf, tw;
        std::string_view v;
        if (!tm.tag(tf, tw) || tw != 2 || !tm.bytes(v)) break;
        if (tf == 1) api_version = std::string(v);
        if (tf == 2) kind = std::string(v);
      }
    } else if (f == 2 && w == 2) {
      if (!r.bytes(raw)) break;
      have_raw = true;
    } else if (!r.skip(w)) {
      error = "malformed protobuf envelope";
      return std::nullopt;
    }
  }
  if (!have_raw) {
    error = "protobuf envelope without an object";
    return std::nullopt;
  }
  if (api_version != "v1" || (kind != "Namespace" && kind != "ConfigMap" && kind != "Secret")) {
    error = "protobuf is only supported here for v1 Namespace, ConfigMap and Secret, not " +
            api_version + ", Kind=" + kind;
    return std::nullopt;
  }
  Json obj = {{"apiVersion", api_version}, {"kind", kind}};
  if (!decode_object(kind, raw, obj, error)) return std::nullopt;
  return obj;
}

}  // namespace gpupool::apiserver
