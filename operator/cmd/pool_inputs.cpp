#include "operator/cmd/pool_inputs.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <system_error>

#include "operator/base/result.h"
#include "operator/core/api_codec.h"
#include "operator/core/api_validation.h"
#include "operator/core/pool_decision.h"
#include "providers/provider.h"

namespace gpupool::cmd {
namespace {

struct FileError {
  std::string message;
};

Result<std::string, FileError> read_file(const std::string& path) {
  if (path == "-") {
    std::ostringstream s;
    s << std::cin.rdbuf();
    return s.str();
  }
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return fail(FileError{"cannot read " + path + ": is a directory"});
  }
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return fail(FileError{"cannot read " + path + ": " + std::generic_category().message(errno)});
  std::ostringstream s;
  s << in.rdbuf();
  if (in.bad()) return fail(FileError{"cannot read " + path + ": read error"});
  return s.str();
}

std::string object_name(const api::ApiObject& obj) {
  const api::ObjectMeta& m = api::metadata_of(obj);
  std::string name = m.name.empty() ? "(unnamed)" : m.name;
  if (!m.namespace_.empty()) name = m.namespace_ + "/" + name;
  return std::string(api::kind_of(obj)) + " " + name;
}

// Reads, decodes, defaults and validates every document of `path`. Prints
// every problem to `err`; nullopt when there was any.
std::optional<std::vector<api::ApiObject>> load(const std::string& path, std::ostream& err,
                                                bool& unreadable) {
  auto text = read_file(path);
  if (!text.ok()) {
    err << "error: " << text.error().message << '\n';
    unreadable = true;
    return std::nullopt;
  }
  auto loaded = api::load_objects(*text);
  if (!loaded.ok()) {
    const api::DecodeError& e = loaded.error();
    err << "error: " << path << ": "
        << (e.kind == api::DecodeError::Kind::Syntax ? "not valid YAML: " : "") << e.message
        << '\n';
    for (const api::FieldError& f : e.fields)
      err << "  " << f.to_string() << '\n';
    return std::nullopt;
  }
  return std::move(loaded).value();
}

}  // namespace

LoadOutcome load_pool_inputs(const std::string& pool_file, const std::string& providers_file,
                             std::ostream& err) {
  LoadOutcome out;
  std::vector<api::ApiObject> objects;
  bool ok = true;
  auto pool_docs = load(pool_file, err, out.unreadable);
  if (pool_docs) {
    objects = std::move(*pool_docs);
  } else {
    ok = false;
  }
  std::vector<api::GpuProvider> providers;
  std::optional<api::GpuPool> pool;
  for (api::ApiObject& obj : objects) {
    if (auto* p = std::get_if<api::GpuPool>(&obj)) {
      if (pool) {
        err << "error: " << pool_file << ": more than one GpuPool; put one pool per file\n";
        ok = false;
      }
      pool = std::move(*p);
    } else if (auto* g = std::get_if<api::GpuProvider>(&obj)) {
      providers.push_back(std::move(*g));
    } else {
      err << "error: " << pool_file << ": " << object_name(obj)
          << ": expected GpuPool or GpuProvider\n";
      ok = false;
    }
  }
  if (pool_docs && !pool && ok) {
    err << "error: " << pool_file << ": no GpuPool document found\n";
    ok = false;
  }
  if (!providers_file.empty()) {
    auto docs = load(providers_file, err, out.unreadable);
    if (!docs) {
      ok = false;
    } else {
      for (api::ApiObject& obj : *docs) {
        if (auto* g = std::get_if<api::GpuProvider>(&obj)) {
          providers.push_back(std::move(*g));
        } else {
          err << "error: " << providers_file << ": " << object_name(obj)
              << ": expected GpuProvider\n";
          ok = false;
        }
      }
    }
  }
  if (ok) out.inputs = PoolInputs{std::move(*pool), std::move(providers)};
  return out;
}

PoolOffers catalog_offers(const api::GpuPoolSpec& spec,
                          const std::vector<api::GpuProvider>& providers,
                          catalog::FluenceBilling fluence, bool providers_file_given) {
  PoolOffers out;
  const std::vector<catalog::Gap> gaps = catalog::gaps();
  const catalog::Options catalog_options = catalog::planning_options(fluence);
  // A pool that bootstraps Nodes plans only providers whose machines run
  // its template, as the operator does (a template in a Secret is not read
  // here: it counts as a shell script).
  auto cannot_bootstrap = [&](const std::string& name, const std::string& type) {
    if (!decision::awaits_node(spec.usage) ||
        runs_user_data(user_data_support_of_type(type), spec.usage.node.bootstrap_script)) {
      return false;
    }
    out.notes.push_back("provider " + name + " (type " + type +
                        ") cannot run the bootstrap template at boot; no offers from it");
    return true;
  };
  for (const api::PoolProviderRef& ref : spec.providers) {
    std::string type;
    auto it = std::find_if(providers.begin(), providers.end(),
                           [&](const api::GpuProvider& g) { return g.metadata.name == ref.name; });
    if (it != providers.end()) {
      type = it->spec.type;
      out.types[ref.name] = type;
      if (cannot_bootstrap(ref.name, type)) continue;
      std::vector<Offer> offers = catalog::offers_for(*it, catalog_options);
      out.offers.insert(out.offers.end(), offers.begin(), offers.end());
      planner::ProviderState& st = out.providers[ref.name];
      st.paused = it->spec.paused;
      st.max_instances = it->spec.quota.max_instances;
      st.max_gpus = it->spec.quota.max_gpus;
      if (offers.empty()) {
        out.notes.push_back("GpuProvider " + ref.name + " (type " + type +
                            ") has no catalog offers for its regions and GPU models");
      }
      for (const api::PriceOverride& po : it->spec.price_overrides) {
        const bool used = std::any_of(offers.begin(), offers.end(), [&](const Offer& o) {
          return o.source.find("priceOverride") != std::string::npos &&
                 o.gpu_model.size() == po.gpu_model.size() &&
                 std::equal(o.gpu_model.begin(), o.gpu_model.end(), po.gpu_model.begin(),
                            [](char a, char b) {
                              return std::toupper(static_cast<unsigned char>(a)) ==
                                     std::toupper(static_cast<unsigned char>(b));
                            });
        });
        if (!used) {
          out.notes.push_back("GpuProvider " + ref.name + ": priceOverride for " + po.gpu_model +
                              " changes nothing: overrides only reprice catalog offers, and "
                              "there is none for it");
        }
      }
    } else if (catalog::default_billing(ref.name)) {
      type = ref.name;
      out.types[ref.name] = type;
      if (cannot_bootstrap(ref.name, type)) continue;
      std::vector<Offer> offers = catalog::offers_for_type(type, ref.name, catalog_options);
      out.offers.insert(out.offers.end(), offers.begin(), offers.end());
      if (providers_file_given) {
        out.notes.push_back("no GpuProvider named " + ref.name +
                            " in the providers file; used the catalog for provider type " +
                            ref.name);
      }
    } else {
      out.notes.push_back("provider " + ref.name +
                          " has no GpuProvider object and is not a catalog provider type; "
                          "no offers from it (pass -p with its GpuProvider)");
      continue;
    }
    for (const api::GpuModelSpec& m : spec.gpu.models) {
      for (const catalog::Gap& g : gaps) {
        if (g.provider_type == type && g.gpu_model == m.name) {
          out.notes.push_back(ref.name + ": no " + m.name + " offer (" +
                              std::string(catalog::to_string(g.kind)) + "): " + g.note);
        }
      }
    }
  }

  return out;
}

}  // namespace gpupool::cmd
