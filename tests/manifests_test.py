#!/usr/bin/python3
"""Checks deploy/kubernetes/ against the real binaries.

Run by bazel (manifests_test) with //server/backend, //server/frontend and
the manifests as data. Nothing here talks to a cluster; it checks what a
reader could get wrong on paper:

- every YAML document parses and has apiVersion, kind and metadata.name,
  and namespaced objects sit in the namespace the manifests define;
- every container runs one of the two binaries, and its args are
  --flag=value pairs naming flags the binary's own --help lists;
- the --listen port is the container's "grpc" port and the port of both
  gRPC probes; --metrics_listen is its "metrics" port and the port in the
  Prometheus annotations;
- the frontend's --backend is a dns:/// target naming a headless Service
  whose port leads to the backend pods' gRPC port;
- shutdown fits: terminationGracePeriodSeconds >= preStop + --shutdown_drain
  + --shutdown_grace + a margin, --shutdown_grace >= the --max_deadline in
  force (flags not given take their defaults from --help), readiness fails
  within the drain, liveness cannot fail within drain + grace;
- resources follow the worker pool and the measured memory figures;
- the real binaries accept the args: each starts with them (addresses
  swapped for loopback ones on port 0) and exits 0 on SIGTERM within the
  pod's grace period;
- the Ingress (30-ingress.yaml) leads to the frontend's gRPC port, speaks
  gRPC (GRPCS when the frontend serves TLS), and its timeout annotations
  are the timers of the edge proxy's configuration (deploy/edge/render.sh,
  rendered for the frontend's flags in force), which outlast the
  frontend's --max_deadline.

It then breaks in-memory copies of the manifests one way at a time (an
unknown flag, a wrong port, ...) and requires each break to be reported, so
that every check above is known to be able to fail.
"""
import copy
import glob
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time

import yaml

RUNFILES = os.path.join(os.environ["TEST_SRCDIR"], os.environ["TEST_WORKSPACE"])
MANIFEST_DIR = os.path.join(RUNFILES, "deploy", "kubernetes")
EDGE_RENDER = os.path.join(RUNFILES, "deploy", "edge", "render.sh")
# The frontend's flags deploy/edge/render.sh derives the edge's timers from.
EDGE_FLAGS = ("max_deadline", "max_connection_age", "keepalive_time",
              "keepalive_timeout")
INGRESS_PREFIX = "nginx.ingress.kubernetes.io/"
BINARIES = {"backend": "server/backend/backend", "frontend": "server/frontend/frontend"}

# The figures the sizing rests on (docs/kubernetes.md, "Sizing").
REST_BYTES = 18e6  # either server's RSS at rest
HELD_CALL_BYTES = 17e3  # a call held by the callback-API backend
BACKEND_CALL_BYTES = 24e3  # a backend call in flight, at the frontend
# The kubelet's SIGKILL comes this long after the last call may end, at
# least: time for the process to exit and for the kubelet's own timing.
SHUTDOWN_MARGIN_S = 2
# gRPC's DNS resolver looks a name up at most this often
# (grpc.dns_min_time_between_resolutions_ms, 30 s in gRPC 1.51).
DNS_COOLDOWN_S = 30
# Kinds that live in a namespace (the rest here are cluster-scoped).
CLUSTER_SCOPED = {"Namespace"}
# How long a binary may take to start, or to exit beyond the pod's grace
# period, on a loaded 2-core machine.
START_TIMEOUT_S = 60


# ---------------------------------------------------------------- parsing


def parse_help(text):
    """--help output -> {flag name: default value as printed}."""
    flags = {}
    for line in text.splitlines():
        match = re.match(r'^  --([a-z0-9_]+)  .*\(default: "(.*)"\)$', line)
        if match:
            flags[match.group(1)] = match.group(2)
    return flags


def parse_duration(text):
    """An absl duration ("20s", "1m", "500us", "1m30s", "inf") in seconds."""
    if text == "inf":
        return float("inf")
    if text == "0":
        return 0.0
    units = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a duration: {text!r}")
    return sum(float(n) * units[u] for n, u in parts)


def parse_byte_size(text):
    """The servers' ByteSize flags: 0, 4096, 64K, 512M, 2G (powers of 2)."""
    shift = {"K": 10, "M": 20, "G": 30}.get(text[-1:], 0)
    digits = text[:-1] if shift else text
    if not digits.isdigit():
        raise ValueError(f"not a byte size: {text!r}")
    return int(digits) << shift


def parse_quantity(text):
    """A Kubernetes quantity ("2", "500m", "512Mi", "1G") as a number."""
    text = str(text)
    suffixes = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40,
                "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "m": 1e-3}
    for suffix, factor in suffixes.items():
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text)


def port_of(address):
    """"HOST:PORT" -> PORT as an int."""
    return int(address.rsplit(":", 1)[1])


# --------------------------------------------------------------- checking


class Container:
    """One container of a Deployment's pod template, and its flags."""

    def __init__(self, deployment, spec, helps, problems):
        self.deployment = deployment
        self.spec = spec
        self.pod = deployment["spec"]["template"]["spec"]
        self.where = (f"{deployment['metadata']['name']}/"
                      f"{spec.get('name', '?')}")
        command = spec.get("command") or []
        self.binary = os.path.basename(command[0]) if command else None
        self.help = helps.get(self.binary)
        self.args = {}
        if self.help is None:
            problems.append(f"{self.where}: command {command} runs neither "
                            f"of {sorted(helps)}")
            return
        for arg in spec.get("args") or []:
            match = re.fullmatch(r"--([a-z0-9_]+)=(.*)", str(arg))
            if not match:
                problems.append(f"{self.where}: arg {arg!r} is not "
                                "--flag=value (the servers reject other "
                                "forms)")
                continue
            name, value = match.groups()
            if name not in self.help:
                problems.append(f"{self.where}: unknown flag --{name} (not "
                                f"in `{self.binary} --help`)")
            elif name in self.args:
                problems.append(f"{self.where}: --{name} given twice")
            self.args[name] = value

    def flag(self, name):
        """The value in force: the arg, or the default --help prints."""
        return self.args.get(name, self.help.get(name))

    def container_port(self, name):
        for port in self.spec.get("ports") or []:
            if port.get("name") == name:
                return port.get("containerPort")
        return None


def check_documents(docs, problems):
    """Every document: a mapping with apiVersion, kind, metadata.name."""
    namespaces = {d["metadata"]["name"] for d in docs
                  if isinstance(d, dict) and d.get("kind") == "Namespace"
                  and isinstance(d.get("metadata"), dict)}
    good = []
    for i, doc in enumerate(docs):
        if not isinstance(doc, dict):
            problems.append(f"document {i}: not a mapping: {doc!r:.60}")
            continue
        missing = [k for k in ("apiVersion", "kind", "metadata")
                   if not doc.get(k)]
        if missing:
            problems.append(f"document {i} ({doc.get('kind')}): no "
                            f"{', '.join(missing)}")
            continue
        name = doc["metadata"].get("name")
        if not name:
            problems.append(f"document {i} ({doc['kind']}): no metadata.name")
            continue
        if doc["kind"] not in CLUSTER_SCOPED:
            namespace = doc["metadata"].get("namespace")
            if namespace not in namespaces:
                problems.append(f"{doc['kind']} {name}: namespace "
                                f"{namespace!r} is not one the manifests "
                                f"define ({sorted(namespaces)})")
        good.append(doc)
    return good


def check_ports(c, problems):
    listen = c.flag("listen")
    grpc_port = c.container_port("grpc")
    if listen.split(":")[0] in ("127.0.0.1", "localhost", "[::1]"):
        problems.append(f"{c.where}: --listen={listen} is loopback: other "
                        "pods and the kubelet's probes cannot reach it")
    if grpc_port != port_of(listen):
        problems.append(f"{c.where}: --listen={listen} but containerPort "
                        f"'grpc' is {grpc_port}")
    for probe_name in ("readinessProbe", "livenessProbe"):
        probe = c.spec.get(probe_name)
        if not probe or "grpc" not in probe:
            problems.append(f"{c.where}: {probe_name} is not a native gRPC "
                            "probe")
        elif probe["grpc"].get("port") != port_of(listen):
            problems.append(f"{c.where}: {probe_name} port "
                            f"{probe['grpc'].get('port')} is not --listen's "
                            f"{port_of(listen)}")
        elif probe["grpc"].get("service", "") != "":
            problems.append(f"{c.where}: {probe_name} asks for service "
                            f"{probe['grpc']['service']!r}; the servers "
                            "report on \"\"")
    metrics = c.flag("metrics_listen")
    if not metrics:
        problems.append(f"{c.where}: no --metrics_listen")
        return
    annotations = (c.deployment["spec"]["template"].get("metadata", {})
                   .get("annotations") or {})
    if c.container_port("metrics") != port_of(metrics):
        problems.append(f"{c.where}: --metrics_listen={metrics} but "
                        f"containerPort 'metrics' is "
                        f"{c.container_port('metrics')}")
    if annotations.get("prometheus.io/port") != str(port_of(metrics)):
        problems.append(f"{c.where}: annotation prometheus.io/port "
                        f"{annotations.get('prometheus.io/port')!r} is not "
                        f"--metrics_listen's {port_of(metrics)}")
    if annotations.get("prometheus.io/scrape") != "true":
        problems.append(f"{c.where}: no prometheus.io/scrape: \"true\"")


def prestop_seconds(c):
    pre_stop = (c.spec.get("lifecycle") or {}).get("preStop") or {}
    if "sleep" in pre_stop:
        return float(pre_stop["sleep"].get("seconds", 0))
    command = (pre_stop.get("exec") or {}).get("command") or []
    if len(command) == 2 and command[0].endswith("sleep"):
        return float(command[1])
    return 0.0


def check_shutdown(c, problems):
    drain = parse_duration(c.flag("shutdown_drain"))
    grace = parse_duration(c.flag("shutdown_grace"))
    max_deadline = parse_duration(c.flag("max_deadline"))
    age_grace = parse_duration(c.flag("max_connection_age_grace"))
    pre_stop = prestop_seconds(c)
    period = c.pod.get("terminationGracePeriodSeconds")
    if period is None:
        problems.append(f"{c.where}: no terminationGracePeriodSeconds")
        return
    needed = pre_stop + drain + grace + SHUTDOWN_MARGIN_S
    if period < needed:
        problems.append(
            f"{c.where}: terminationGracePeriodSeconds {period} < preStop "
            f"{pre_stop:g}s + drain {drain:g}s + grace {grace:g}s + margin "
            f"{SHUTDOWN_MARGIN_S}s = {needed:g}s: the kubelet's SIGKILL "
            "would cut calls still allowed to run")
    if grace < max_deadline:
        problems.append(f"{c.where}: --shutdown_grace {grace:g}s < "
                        f"--max_deadline {max_deadline:g}s: a call accepted "
                        "just before shutdown could be cancelled")
    if age_grace < max_deadline:
        problems.append(f"{c.where}: --max_connection_age_grace "
                        f"{age_grace:g}s < --max_deadline {max_deadline:g}s")
    readiness = c.spec.get("readinessProbe") or {}
    noticed = (readiness.get("periodSeconds", 10) *
               readiness.get("failureThreshold", 3))
    if noticed > drain:
        problems.append(f"{c.where}: readiness notices NOT_SERVING only "
                        f"after up to {noticed}s, beyond the {drain:g}s "
                        "drain")
    liveness = c.spec.get("livenessProbe") or {}
    kills = (liveness.get("periodSeconds", 10) *
             liveness.get("failureThreshold", 3))
    if kills <= drain + grace:
        problems.append(f"{c.where}: liveness could fail a draining pod "
                        f"after {kills}s, within drain + grace "
                        f"({drain + grace:g}s)")


def pods_during_rollout(deployment):
    """replicas + maxSurge (Kubernetes' default surge: 25%, rounded up)."""
    replicas = deployment["spec"].get("replicas", 1)
    surge = (deployment["spec"].get("strategy", {}).get("rollingUpdate", {})
             .get("maxSurge", "25%"))
    if isinstance(surge, str) and surge.endswith("%"):
        surge = -(-replicas * int(surge[:-1]) // 100)
    return replicas + int(surge)


def resources(c, kind):
    requests = (c.spec.get("resources") or {}).get("requests") or {}
    limits = (c.spec.get("resources") or {}).get("limits") or {}
    return requests.get(kind), limits.get(kind)


def check_memory(c, floor, what, problems):
    request, limit = resources(c, "memory")
    if request is None:
        problems.append(f"{c.where}: no memory request")
        return
    if parse_quantity(request) < floor:
        problems.append(f"{c.where}: memory request {request} is below "
                        f"{floor / 2**20:.0f} MiB ({what})")
    if limit is not None and parse_quantity(limit) < parse_quantity(request):
        problems.append(f"{c.where}: memory limit {limit} < request "
                        f"{request}")


def find_backend_service(frontend, services, target, problems):
    """The Service a dns:/// target names, or None (with a problem)."""
    match = re.fullmatch(r"dns:///([a-z0-9.-]+):(\d+)", target)
    if not match:
        problems.append(f"{frontend.where}: --backend entry {target!r} is "
                        "not dns:///NAME.NAMESPACE.svc.cluster.local:PORT")
        return None, None
    host, port = match.group(1), int(match.group(2))
    labels = host.split(".")
    name = labels[0]
    namespace = (labels[1] if len(labels) > 1
                 else frontend.deployment["metadata"]["namespace"])
    if len(labels) > 2 and labels[2] != "svc":
        problems.append(f"{frontend.where}: {host} is not a Service name "
                        "(NAME.NAMESPACE.svc...)")
        return None, None
    service = services.get((namespace, name))
    if service is None:
        problems.append(f"{frontend.where}: --backend names Service "
                        f"{namespace}/{name}, which the manifests do not "
                        "define")
        return None, None
    return service, port


def check_frontend_backends(frontend, services, backends, problems):
    entries = frontend.flag("backend").split(",")
    for target in entries:
        service, port = find_backend_service(frontend, services, target,
                                             problems)
        if service is None:
            continue
        where = f"{frontend.where}: Service {service['metadata']['name']}"
        spec = service.get("spec") or {}
        if spec.get("clusterIP") != "None":
            problems.append(f"{where} is not headless (clusterIP: None): "
                            "DNS would give one virtual IP, and one "
                            "connection pins every call to one pod")
        if spec.get("publishNotReadyAddresses"):
            problems.append(f"{where} publishes pods that are not ready")
        service_port = next((p for p in spec.get("ports") or []
                             if p.get("port") == port), None)
        if service_port is None:
            problems.append(f"{where} has no port {port}")
            continue
        selector = spec.get("selector") or {}
        pods = [b for b in backends
                if selector and selector.items() <=
                (b.deployment["spec"]["template"]["metadata"]
                 .get("labels") or {}).items()]
        if not pods:
            problems.append(f"{where} selects no backend pods "
                            f"({selector})")
        for backend in pods:
            target_port = service_port.get("targetPort", port)
            resolved = (backend.container_port(target_port)
                        if isinstance(target_port, str) else target_port)
            if resolved != port_of(backend.flag("listen")):
                problems.append(f"{where} port {port} leads to "
                                f"{target_port} ({resolved}), not the "
                                f"backend's --listen port "
                                f"{port_of(backend.flag('listen'))}")


def check_backend(c, frontend_pods, problems):
    """CPU for the worker pool, memory for the calls frontends can hold."""
    workers = int(c.flag("workers"))
    if workers < 1:
        problems.append(f"{c.where}: --workers={workers} counts the "
                        "node's cores, not the pod's: set it")
    cpu, _ = resources(c, "cpu")
    if cpu is None or parse_quantity(cpu) != workers:
        problems.append(f"{c.where}: cpu request {cpu} does not match "
                        f"--workers={workers}")
    held = frontend_pods * int(c.flag("max_streams"))
    check_memory(c, REST_BYTES + held * HELD_CALL_BYTES +
                 parse_byte_size(c.flag("max_memory")),
                 f"{held} held calls from {frontend_pods} frontend pods, "
                 "and --max_memory", problems)
    min_ready = c.deployment["spec"].get("minReadySeconds", 0)
    if min_ready <= DNS_COOLDOWN_S:
        problems.append(f"{c.where}: minReadySeconds {min_ready} <= "
                        f"{DNS_COOLDOWN_S}: a rollout could remove old pods "
                        "faster than frontends re-resolve")


def check_frontend(c, services, backends, problems):
    """Memory for the calls in flight; the backends it names."""
    in_flight = int(c.flag("max_in_flight"))
    check_memory(c, REST_BYTES + in_flight * BACKEND_CALL_BYTES +
                 parse_byte_size(c.flag("max_memory")),
                 f"{in_flight} calls in flight and --max_memory", problems)
    check_frontend_backends(c, services, backends, problems)


def nginx_seconds(text):
    """An nginx time ("25s", "1500ms", "2m") in seconds."""
    units = {"ms": 1e-3, "s": 1, "m": 60, "h": 3600}
    match = re.fullmatch(r"(\d+)(ms|s|m|h)", text)
    if not match:
        raise ValueError(f"not an nginx time: {text!r}")
    return int(match.group(1)) * units[match.group(2)]


def render_edge(frontend):
    """deploy/edge/render.sh for the frontend's flags in force:
    {directive: value} of the configuration it writes."""
    args = [f"--{name}={frontend.flag(name)}" for name in EDGE_FLAGS]
    out = subprocess.run([EDGE_RENDER, *args], capture_output=True,
                         text=True, check=True).stdout
    return dict(re.findall(r"^\s*([a-z_0-9]+) ([^;#]+);", out, re.M))


def check_ingress(ingress, services, frontends, problems):
    """An Ingress leads to the frontend, speaks gRPC, and has the edge's
    timers."""
    where = f"Ingress {ingress['metadata']['name']}"
    annotations = ingress["metadata"].get("annotations") or {}
    targets = [path["backend"]["service"]
               for rule in ingress["spec"].get("rules") or []
               for path in (rule.get("http") or {}).get("paths") or []]
    if not targets:
        problems.append(f"{where}: no rule leads to a Service")
    for target in targets:
        service = services.get((ingress["metadata"].get("namespace"),
                                target.get("name")))
        if service is None:
            problems.append(f"{where}: Service {target.get('name')} is not "
                            "one the manifests define")
            continue
        port = target.get("port") or {}
        service_port = next(
            (p for p in service["spec"].get("ports") or []
             if p.get("name") == port.get("name", object())
             or p.get("port") == port.get("number", object())), None)
        selector = service["spec"].get("selector") or {}
        pods = [f for f in frontends
                if selector and selector.items() <=
                (f.deployment["spec"]["template"]["metadata"]
                 .get("labels") or {}).items()]
        if service_port is None or not pods:
            problems.append(f"{where}: Service {target.get('name')} port "
                            f"{port} leads to no frontend pod")
            continue
        for frontend in pods:
            target_port = service_port.get("targetPort",
                                           service_port.get("port"))
            resolved = (frontend.container_port(target_port)
                        if isinstance(target_port, str) else target_port)
            if resolved != port_of(frontend.flag("listen")):
                problems.append(f"{where}: leads to port {resolved}, not "
                                "the frontend's --listen port "
                                f"{port_of(frontend.flag('listen'))}")
            protocol = "GRPCS" if frontend.flag("tls_cert") else "GRPC"
            if annotations.get(INGRESS_PREFIX + "backend-protocol") != protocol:
                problems.append(
                    f"{where}: backend-protocol is "
                    f"{annotations.get(INGRESS_PREFIX + 'backend-protocol')!r}"
                    f", not {protocol!r}: the controller would not speak "
                    "gRPC to the frontend as it serves")
            edge = render_edge(frontend)
            max_deadline = parse_duration(frontend.flag("max_deadline"))
            for annotation, directive in (
                    ("proxy-read-timeout", "grpc_read_timeout"),
                    ("proxy-send-timeout", "grpc_send_timeout"),
                    ("proxy-connect-timeout", "grpc_connect_timeout")):
                value = annotations.get(INGRESS_PREFIX + annotation)
                wanted = nginx_seconds(edge[directive])
                if value is None or float(value) != wanted:
                    problems.append(
                        f"{where}: {annotation} {value!r} is not the edge "
                        f"configuration's {directive} ({wanted:g}s, "
                        "deploy/edge/render.sh)")
                if (directive != "grpc_connect_timeout" and value is not None
                        and float(value) <= max_deadline):
                    problems.append(
                        f"{where}: {annotation} {value}s does not outlast "
                        f"the frontend's --max_deadline {max_deadline:g}s: "
                        "the proxy would cut calls the frontend allows "
                        "(UNAVAILABLE)")


def check(docs, helps):
    """All the checks; returns the problems found (empty: all good)."""
    problems = []
    docs = check_documents(docs, problems)
    services = {(d["metadata"].get("namespace"), d["metadata"]["name"]): d
                for d in docs if d["kind"] == "Service"}
    containers = [Container(d, c, helps, problems)
                  for d in docs if d["kind"] == "Deployment"
                  for c in d["spec"]["template"]["spec"]["containers"]]
    containers = [c for c in containers if c.help is not None]
    by_binary = {name: [c for c in containers if c.binary == name]
                 for name in BINARIES}
    for name in BINARIES:
        if not by_binary[name]:
            problems.append(f"no Deployment runs the {name}")
    frontend_pods = sum(pods_during_rollout(c.deployment)
                        for c in by_binary["frontend"])
    checks = [(check_ports, c) for c in containers]
    checks += [(check_shutdown, c) for c in containers]
    checks += [(lambda c, p: check_backend(c, frontend_pods, p), c)
               for c in by_binary["backend"]]
    checks += [(lambda c, p: check_frontend(c, services, by_binary["backend"],
                                            p), c)
               for c in by_binary["frontend"]]
    for check_one, c in checks:
        try:
            check_one(c, problems)
        except (ValueError, IndexError, TypeError) as error:
            problems.append(f"{c.where}: a value does not parse: {error}")
    ingresses = [d for d in docs if d["kind"] == "Ingress"]
    if not ingresses:
        problems.append("no Ingress in front of the frontend")
    for ingress in ingresses:
        try:
            check_ingress(ingress, services, by_binary["frontend"], problems)
        except (ValueError, KeyError, TypeError) as error:
            problems.append(f"Ingress {ingress['metadata']['name']}: a value "
                            f"does not parse: {error}")
    return problems


# --------------------------------------------- the checks can fail


def deployment(docs, name):
    return next(d for d in docs if d and d.get("kind") == "Deployment" and
                d["metadata"]["name"] == name)


def container(docs, name):
    return deployment(docs, name)["spec"]["template"]["spec"]["containers"][0]


def set_arg(docs, name, flag, value):
    args = container(docs, name)["args"]
    args[:] = [a for a in args if not a.startswith(f"--{flag}=")]
    args.append(f"--{flag}={value}")


def service(docs, name):
    return next(d for d in docs if d and d.get("kind") == "Service" and
                d["metadata"]["name"] == name)


def ingress(docs):
    return next(d for d in docs if d and d.get("kind") == "Ingress")


def frontend_backend_service(docs):
    args = container(docs, "frontend")["args"]
    target = next(a for a in args if a.startswith("--backend="))
    return re.match(r"--backend=dns:///([a-z0-9-]+)", target).group(1)


# Each: (what is broken, how, a phrase its problem must contain).
BREAKS = [
    ("a document without a kind",
     lambda d: d[0].pop("kind"), "no kind"),
    ("an unknown flag",
     lambda d: container(d, "backend")["args"].append("--no_such_flag=1"),
     "unknown flag --no_such_flag"),
    ("a flag only the other binary has",
     lambda d: container(d, "backend")["args"].append("--retries=2"),
     "unknown flag --retries"),
    ("a flag written as two args",
     lambda d: container(d, "frontend")["args"].extend(["--reserve", "5ms"]),
     "is not --flag=value"),
    ("--listen on another port than the container's",
     lambda d: set_arg(d, "backend", "listen", "0.0.0.0:7000"),
     "containerPort 'grpc'"),
    ("a probe on another port",
     lambda d: container(d, "frontend")["readinessProbe"]["grpc"].update(
         port=1), "readinessProbe port 1"),
    ("an HTTP probe",
     lambda d: container(d, "backend").update(
         livenessProbe={"httpGet": {"port": 8080}}),
     "not a native gRPC probe"),
    ("a metrics port the annotation does not name",
     lambda d: set_arg(d, "frontend", "metrics_listen", "0.0.0.0:9999"),
     "prometheus.io/port"),
    ("the backends behind a ClusterIP Service",
     lambda d: service(d, frontend_backend_service(d))["spec"].pop(
         "clusterIP"), "not headless"),
    ("--backend naming a Service that does not exist",
     lambda d: set_arg(d, "frontend", "backend",
                       "dns:///nowhere.deadline.svc.cluster.local:50052"),
     "the manifests do not define"),
    ("--backend as a plain address",
     lambda d: set_arg(d, "frontend", "backend", "10.0.0.1:50052"),
     "is not dns:///"),
    ("a grace period shorter than drain + grace",
     lambda d: deployment(d, "backend")["spec"]["template"]["spec"].update(
         terminationGracePeriodSeconds=10), "SIGKILL"),
    ("a default --shutdown_grace (1s) under --max_deadline",
     lambda d: container(d, "frontend")["args"].remove(
         next(a for a in container(d, "frontend")["args"]
              if a.startswith("--shutdown_grace="))),
     "--shutdown_grace 1s < --max_deadline"),
    ("a default --max_deadline (1m) above the grace",
     lambda d: container(d, "backend")["args"].remove(
         next(a for a in container(d, "backend")["args"]
              if a.startswith("--max_deadline="))),
     "< --max_deadline 60s"),
    ("a CPU request that does not match --workers",
     lambda d: set_arg(d, "backend", "workers", "4"),
     "does not match --workers=4"),
    ("too little memory for the held calls",
     lambda d: container(d, "backend")["resources"]["requests"].update(
         memory="128Mi"), "memory request 128Mi is below"),
    ("an object in a namespace the manifests do not create",
     lambda d: service(d, "frontend")["metadata"].update(namespace="other"),
     "namespace 'other'"),
    ("--listen on loopback",
     lambda d: set_arg(d, "backend", "listen", "127.0.0.1:50052"),
     "is loopback"),
    ("no --metrics_listen",
     lambda d: container(d, "backend")["args"].remove(
         "--metrics_listen=0.0.0.0:9101"), "no --metrics_listen"),
    ("a probe asking for a service name the servers do not report on",
     lambda d: container(d, "backend")["livenessProbe"]["grpc"].update(
         service="deadline.v1.Backend"), "asks for service"),
    ("a headless Service whose port leads elsewhere",
     lambda d: service(d, frontend_backend_service(d))["spec"]["ports"][0]
     .update(targetPort="metrics"), "not the backend's --listen port"),
    ("a readiness probe slower than the drain",
     lambda d: container(d, "frontend")["readinessProbe"].update(
         periodSeconds=10), "beyond the 3s drain"),
    ("a liveness probe that could fail within drain + grace",
     lambda d: container(d, "backend")["livenessProbe"].update(
         failureThreshold=1), "liveness could fail a draining pod"),
    ("--workers left at its default (the node's cores)",
     lambda d: container(d, "backend")["args"].remove("--workers=2"),
     "--workers=0 counts the node's cores"),
    ("rollouts faster than DNS re-resolution",
     lambda d: deployment(d, "backend")["spec"].update(minReadySeconds=0),
     "minReadySeconds 0"),
    ("an Ingress timer that nginx's default would leave at 60s",
     lambda d: ingress(d)["metadata"]["annotations"].update(
         {INGRESS_PREFIX + "proxy-read-timeout": "60"}),
     "proxy-read-timeout '60' is not the edge configuration's"),
    ("an Ingress timer that fires before --max_deadline",
     lambda d: ingress(d)["metadata"]["annotations"].update(
         {INGRESS_PREFIX + "proxy-send-timeout": "15"}),
     "does not outlast the frontend's --max_deadline"),
    ("an Ingress that speaks HTTP/1.1 to the frontend",
     lambda d: ingress(d)["metadata"]["annotations"].update(
         {INGRESS_PREFIX + "backend-protocol": "HTTP"}),
     "backend-protocol is 'HTTP'"),
    ("an Ingress to the metrics port",
     lambda d: ingress(d)["spec"]["rules"][0]["http"]["paths"][0]["backend"]
     ["service"].update(port={"number": 9102}), "leads to no frontend pod"),
    ("a --max_deadline the Ingress was not rendered for",
     lambda d: set_arg(d, "frontend", "max_deadline", "25s"),
     "does not outlast the frontend's --max_deadline 25s"),
]


def check_breaks(docs, helps):
    failures = []
    for what, mutate, phrase in BREAKS:
        broken = copy.deepcopy(docs)
        mutate(broken)
        found = check(broken, helps)
        if not any(phrase in p for p in found):
            failures.append(f"break not detected: {what}: expected a "
                            f"problem with {phrase!r}, got {found}")
    return failures


# --------------------------------------------- the binaries accept them


def launch_args(c):
    """The container's args with its addresses made local: the servers bind
    127.0.0.1:0 (a free port), and the frontend's backend target keeps its
    dns:/// scheme but names an IP literal, which gRPC resolves without a
    DNS query (port 1: nothing listens, so its channel just retries)."""
    local = {"listen": "127.0.0.1:0", "metrics_listen": "127.0.0.1:0",
             "backend": "dns:///127.0.0.1:1"}
    return [f"--{name}={local.get(name, value)}"
            for name, value in c.args.items()]


def run_binary(c):
    """Starts the container's binary with its args; SIGTERM; exit 0 within
    the pod's grace period. Returns problems."""
    binary = os.path.join(RUNFILES, BINARIES[c.binary])
    process = subprocess.Popen([binary, *launch_args(c)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    # Both pipes are read all along, so that the server never blocks on one.
    lines, errors = queue.Queue(), []
    readers = [
        threading.Thread(
            target=lambda: [lines.put(l) for l in process.stdout]),
        threading.Thread(target=lambda: errors.extend(process.stderr)),
    ]
    for reader in readers:
        reader.start()

    def finish(problems):
        if process.poll() is None:
            process.kill()
        process.wait()
        for reader in readers:
            reader.join()
        return problems

    seen = []
    deadline = time.monotonic() + START_TIMEOUT_S
    while not any("listening on" in l for l in seen):
        try:
            seen.append(lines.get(timeout=0.1))
            continue
        except queue.Empty:
            pass
        if process.poll() is not None:
            return finish([f"{c.where}: `{c.binary}` rejected the manifest's "
                           f"args (exit {process.returncode}): "
                           f"{''.join(errors)[:2000]}"])
        if time.monotonic() > deadline:
            return finish([f"{c.where}: `{c.binary}` with the manifest's "
                           f"args did not start: {seen}"])
    problems = []
    if not any("metrics on" in l for l in seen):
        problems.append(f"{c.where}: no metrics endpoint started: {seen}")
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(
            timeout=c.pod["terminationGracePeriodSeconds"] + START_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return finish(problems + [f"{c.where}: still running long after "
                                  "SIGTERM"])
    took = time.monotonic() - started
    finish(None)
    if process.returncode != 0:
        problems.append(f"{c.where}: exit {process.returncode} after "
                        f"SIGTERM: {''.join(errors)[-2000:]}")
    print(f"{c.where}: `{c.binary}` started with the manifest's args, "
          f"exited {process.returncode} {took:.1f}s after SIGTERM")
    return problems


def main():
    helps = {}
    for name, path in BINARIES.items():
        out = subprocess.run([os.path.join(RUNFILES, path), "--help"],
                             capture_output=True, text=True, check=True)
        helps[name] = parse_help(out.stdout)
        if len(helps[name]) < 10 or "listen" not in helps[name]:
            sys.exit(f"{name} --help lists no flags I can read:\n{out.stdout}")

    files = sorted(glob.glob(os.path.join(MANIFEST_DIR, "*.yaml")))
    if not files:
        sys.exit(f"no manifests in {MANIFEST_DIR}")
    docs, failures = [], []
    for path in files:
        try:
            docs.extend(yaml.safe_load_all(open(path)))
        except yaml.YAMLError as error:
            failures.append(f"{os.path.basename(path)}: {error}")
    print(f"{len(files)} files, {len(docs)} documents: " +
          ", ".join(f"{d.get('kind')} {d['metadata']['name']}"
                    for d in docs if isinstance(d, dict)
                    and isinstance(d.get("metadata"), dict)))

    failures += check(docs, helps)
    failures += check_breaks(docs, helps)
    print(f"{len(BREAKS)} deliberate breaks, each reported")
    if not failures:
        # Only manifests that pass the checks are worth starting.
        checked = []
        for d in docs:
            if d.get("kind") == "Deployment":
                for spec in d["spec"]["template"]["spec"]["containers"]:
                    checked.append(Container(d, spec, helps, []))
        for c in checked:
            failures += run_binary(c)
    for failure in failures:
        print("FAIL:", failure)
    print(f"{len(failures)} failures")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
