#ifndef DEADLINE_COMMON_METADATA_H_
#define DEADLINE_COMMON_METADATA_H_

namespace deadline {

// Trailing metadata the backend sends on every outcome of Work and
// WorkStream: the steps it did, in decimal. A failed call carries no reply
// message, so this is how a caller learns how far a stopped call got.
inline constexpr char kStepsDoneKey[] = "deadline-steps-done";

}  // namespace deadline

#endif  // DEADLINE_COMMON_METADATA_H_
