// What a verified token grants. Produced by verify_hs256 (auth/jwt.hpp); the
// server decides policy (e.g. what an absent "topics" claim means).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace lastmile::auth {

struct claims {
  std::string subject;                // "sub"; empty when absent
  std::vector<std::string> topics;    // "topics": topic filters, kept verbatim (exact names or
                                      // prefix wildcards like "orders.*"); matching lives in core
  bool topics_present = false;        // distinguishes an absent claim from "topics": []
  bool may_publish = false;           // "publish"; false when absent
  // "exp" (required by verify_hs256, so always set on success). Saturated to
  // time_point::min()/max() when outside the clock's range (~±292 years).
  std::optional<std::chrono::system_clock::time_point> expires;
};

}  // namespace lastmile::auth
