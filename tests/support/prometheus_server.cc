#include "tests/support/prometheus_server.h"

#include <signal.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <utility>

#include "absl/memory/memory.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "tests/support/http_get.h"

namespace deadline::testing {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

std::string Quoted(absl::string_view text) {
  return absl::StrCat("\"", text, "\"");
}

// prometheus.yml for `options`.
std::string ConfigFor(const PrometheusServer::Options& options) {
  const std::string interval =
      absl::StrCat(absl::ToInt64Milliseconds(options.scrape_interval), "ms");
  std::string config =
      absl::StrCat("global:\n  scrape_interval: ", interval,
                   "\n  scrape_timeout: ", interval,
                   "\n  evaluation_interval: ", interval, "\n");
  if (!options.rule_files.empty()) {
    absl::StrAppend(&config, "rule_files:\n");
    for (const std::string& file : options.rule_files) {
      absl::StrAppend(&config, "  - ", Quoted(file), "\n");
    }
  }
  absl::StrAppend(&config, "scrape_configs:\n");
  for (const auto& [job, targets] : options.jobs) {
    std::vector<std::string> quoted;
    for (const std::string& target : targets) quoted.push_back(Quoted(target));
    absl::StrAppend(&config, "  - job_name: ", Quoted(job),
                    "\n    static_configs:\n      - targets: [",
                    absl::StrJoin(quoted, ", "), "]\n");
  }
  return config;
}

// The field `key` of `object`; a null Value when it has none.
const Value& Field(const Struct& object, const std::string& key) {
  static const Value* const kNull = new Value;
  const auto it = object.fields().find(key);
  return it == object.fields().end() ? *kNull : it->second;
}

// Element `i` of `list`; a null Value when it has none.
const Value& Element(const Value& list, int i) {
  static const Value* const kNull = new Value;
  return i < list.list_value().values_size() ? list.list_value().values(i)
                                             : *kNull;
}

// A sample's value as the HTTP API gives it: a string, "NaN" and "+Inf"
// included.
double SampleValue(const Value& value) {
  return std::strtod(value.string_value().c_str(), nullptr);
}

}  // namespace

absl::StatusOr<std::unique_ptr<PrometheusServer>> PrometheusServer::Start(
    const Options& options) {
  const std::string config_path = absl::StrCat(options.dir, "/prometheus.yml");
  {
    std::ofstream config(config_path);
    config << ConfigFor(options);
    if (!config) {
      return absl::InternalError(absl::StrCat("cannot write ", config_path));
    }
  }
  const int port = FreePort();
  if (port == 0) return absl::UnavailableError("no free port");
  const std::string address = absl::StrCat("127.0.0.1:", port);
  std::unique_ptr<Subprocess> process = Subprocess::Start({
      "/usr/bin/prometheus",
      absl::StrCat("--config.file=", config_path),
      absl::StrCat("--storage.tsdb.path=", options.dir, "/data"),
      absl::StrCat("--web.listen-address=", address),
  });
  if (process == nullptr) {
    return absl::FailedPreconditionError(
        "cannot run /usr/bin/prometheus: scripts/deps.sh test installs it "
        "(Debian's prometheus package)");
  }
  if (!process->WaitForLine("Server is ready to receive web requests",
                            absl::Seconds(20))) {
    return absl::UnavailableError(absl::StrCat(
        "Prometheus did not get ready; it said:\n", process->output()));
  }
  return absl::WrapUnique(new PrometheusServer(std::move(process), address));
}

PrometheusServer::~PrometheusServer() { Stop(); }

absl::optional<int> PrometheusServer::Stop() {
  process_->Signal(SIGTERM);
  return process_->Wait(absl::Seconds(10));
}

absl::StatusOr<std::vector<QueryResult>> PrometheusServer::Query(
    absl::string_view promql) {
  const absl::StatusOr<HttpResponse> response = HttpGet(
      address_, absl::StrCat("/api/v1/query?query=", UrlEncode(promql)));
  if (!response.ok()) return response.status();
  Struct answer;
  if (!google::protobuf::util::JsonStringToMessage(response->body, &answer)
           .ok()) {
    return absl::InternalError(absl::StrCat("not JSON (HTTP ", response->status,
                                            "): ", response->body));
  }
  if (Field(answer, "status").string_value() != "success") {
    return absl::InvalidArgumentError(
        absl::StrCat("query ", promql, ": ", response->body));
  }
  const Struct& data = Field(answer, "data").struct_value();
  const std::string& type = Field(data, "resultType").string_value();
  const Value& result = Field(data, "result");
  std::vector<QueryResult> results;
  if (type == "scalar") {
    results.push_back({{}, SampleValue(Element(result, 1))});
    return results;
  }
  if (type != "vector") {
    return absl::InvalidArgumentError(
        absl::StrCat("query ", promql, " gave a ", type));
  }
  for (const Value& series : result.list_value().values()) {
    QueryResult one;
    for (const auto& [name, value] :
         Field(series.struct_value(), "metric").struct_value().fields()) {
      one.labels[name] = value.string_value();
    }
    one.value = SampleValue(Element(Field(series.struct_value(), "value"), 1));
    results.push_back(std::move(one));
  }
  return results;
}

}  // namespace deadline::testing
