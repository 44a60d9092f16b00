#ifndef DEADLINE_SERVER_SERVING_RAW_MESSAGES_H_
#define DEADLINE_SERVER_SERVING_RAW_MESSAGES_H_

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/proto_buffer_reader.h"
#include "grpcpp/support/proto_buffer_writer.h"

namespace deadline {

// A service that takes its requests as bytes (gRPC's generated raw
// methods) parses them itself: a request that does not parse is then the
// service's to answer (INVALID_ARGUMENT, counted and logged), where gRPC
// would answer it alone, before any handler runs, uncounted.

// Parses the request `bytes` of a call into `message`. OK when they are
// one; INVALID_ARGUMENT when they do not parse; CANCELLED when no request
// arrived at all. gRPC still runs a raw handler then, with an invalid
// buffer, and the caller has almost always cancelled already, even if the
// call does not say so yet (an empty buffer, by contrast, is a valid empty
// message).
template <typename Message>
absl::Status ParseRequest(const grpc::ByteBuffer& bytes, Message& message) {
  if (!bytes.Valid()) {
    return absl::CancelledError(
        "no request arrived: the caller cancelled (or sent none)");
  }
  grpc::ByteBuffer view(bytes);  // Shares the slices; no copy of the bytes.
  grpc::ProtoBufferReader reader(&view);
  if (!message.ParseFromZeroCopyStream(&reader)) {
    return absl::InvalidArgumentError(
        absl::StrCat("the request did not parse as a ", message.GetTypeName()));
  }
  return absl::OkStatus();
}

// Parses the reply `bytes` of a call that `peer` answered OK into
// `message`: OK when they are one; INTERNAL, naming the peer, when they do
// not parse or none arrived, so that a garbled answer is never taken for
// success. (A reply taken as a typed message would not do: gRPC 1.51's
// callback unary client drops the "message parsed" bit and reports the
// server's OK with a half-parsed reply.)
template <typename Message>
absl::Status ParseReply(const grpc::ByteBuffer& bytes, Message& message,
                        absl::string_view peer) {
  if (bytes.Valid()) {
    grpc::ByteBuffer view(bytes);  // Shares the slices; no copy.
    grpc::ProtoBufferReader reader(&view);
    if (message.ParseFromZeroCopyStream(&reader)) return absl::OkStatus();
  }
  return absl::InternalError(
      absl::StrCat(peer, " answered OK with a reply that does not parse"));
}

// Serializes `message` into `bytes`, for gRPC to send. `bytes` may hold
// the last message a stream wrote: it is replaced (gRPC's serializer aborts
// on a buffer that is not empty once a message exceeds 23 bytes).
template <typename Message>
void SerializeRaw(const Message& message, grpc::ByteBuffer& bytes) {
  bytes.Clear();
  bool own_buffer = false;
  grpc::SerializationTraits<Message>::Serialize(message, &bytes, &own_buffer);
}

}  // namespace deadline

#endif  // DEADLINE_SERVER_SERVING_RAW_MESSAGES_H_
