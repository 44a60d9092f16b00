#ifndef DEADLINE_TESTS_SUPPORT_HTTP_GET_H_
#define DEADLINE_TESTS_SUPPORT_HTTP_GET_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace deadline::testing {

struct HttpResponse {
  int status = 0;  // 200, 404, ...
  std::string body;
};

// GET http://<address><target> over HTTP/1.0, so the server sends the body
// whole and closes. `address` is HOST:PORT (an IPv4 address or a name);
// `target` the path and query, e.g. "/metrics". UNAVAILABLE when it cannot
// connect, DEADLINE_EXCEEDED when the whole exchange takes longer than
// `timeout`, INTERNAL for an answer that is not HTTP. Not for production:
// a test's client of a server it started.
absl::StatusOr<HttpResponse> HttpGet(absl::string_view address,
                                     absl::string_view target,
                                     absl::Duration timeout = absl::Seconds(5));

// `text` percent-encoded for a URL's query (RFC 3986 unreserved characters
// kept as they are).
std::string UrlEncode(absl::string_view text);

}  // namespace deadline::testing

#endif  // DEADLINE_TESTS_SUPPORT_HTTP_GET_H_
