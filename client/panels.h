#ifndef DEADLINE_CLIENT_PANELS_H_
#define DEADLINE_CLIENT_PANELS_H_

#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "proto/deadline.pb.h"

namespace deadline {

// Parses the client's --panels syntax: comma-separated groups
// COUNTxSTEPSxSTEP[:spin], e.g. "3x10x10ms,1x100x10ms:spin" is three panels
// of 10 steps of 10 ms and one CPU-bound panel of 100 steps of 10 ms.
// INVALID_ARGUMENT naming the group that does not parse, or whose STEP no
// protobuf Duration can hold (infinite, or beyond 10000 years). Other limits
// on the values are the servers' business.
absl::StatusOr<std::vector<deadline::v1::WorkRequest>> ParsePanels(
    absl::string_view spec);

}  // namespace deadline

#endif  // DEADLINE_CLIENT_PANELS_H_
