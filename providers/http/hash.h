#pragma once
// SHA-256 for deriving deterministic provider-side names and tokens.

#include <string>
#include <string_view>

namespace gpupool::net {

// Lower-case hex SHA-256 of `data`.
std::string sha256_hex(std::string_view data);

}  // namespace gpupool::net
