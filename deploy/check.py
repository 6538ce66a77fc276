#!/usr/bin/env python3
"""Static checks of deploy/: linters, schemas, and the files' agreement with each other and
with the server.

Why: CI has no Docker engine and no cluster. What it can check is that each file is valid for
its tool (hadolint, shellcheck, Kubernetes' OpenAPI schemas, the Compose spec) and that the
files agree with the server they deploy: ports, configuration keys and types, probe service
names, metric names, the non-root user, and the shutdown time budget. deploy/image.sh runs
the image itself; tests/deploy/manifests.rs runs both under `cargo test`.

Usage:  COMPACT_ASR_BIN=target/debug/compact-asr python3 deploy/check.py [--deploy DIR]
The tools come from PATH: install deploy/requirements-check.txt into a virtualenv and put
its bin/ first (the test does). --deploy checks another copy of deploy/ (the tests feed it
broken ones); the Dockerfile, the sources and the binary always come from this repository.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
# Every metric named in issue 7; the dashboard must show each of them.
REQUIRED_METRICS = [
    "compact_asr_active_streams",
    "compact_asr_pool_in_use",
    "compact_asr_pool_capacity",
    "compact_asr_audio_seconds_total",
    "compact_asr_rtf",
    "compact_asr_chunk_latency_seconds",
    "compact_asr_inference_seconds",
    "compact_asr_errors_total",
]
# The oldest Kubernetes the manifests promise to fit (gRPC probes are GA since 1.27), and
# the newest schema bundled with kubernetes-validate.
K8S_VERSIONS = ["1.29.0", "1.37.0"]

failures = []


def check(ok, message):
    if not ok:
        failures.append(message)
    return ok


def tool(name, *args, cwd=None):
    """Runs a linter or validator; its output becomes the failure message."""
    result = subprocess.run([name, *args], cwd=cwd, capture_output=True, text=True)
    check(result.returncode == 0,
          f"{name} {' '.join(map(str, args))} failed:\n{result.stdout}{result.stderr}")
    return result


def yaml_documents(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def port(address):
    return int(str(address).rsplit(":", 1)[1])


def server_defaults(binary):
    """The binary's `config --print-default`: values of every key, and the optional keys."""
    text = subprocess.run([binary, "config", "--print-default"], capture_output=True,
                          text=True, check=True).stdout
    optional = set(re.findall(r"^# (\w+) = .*\(unset by default\)$", text, re.M))
    return tomllib.loads(text), optional


def exported_metrics():
    """Metric names the server's sources register (string literals under src/)."""
    names = set()
    for source in (REPO / "src").rglob("*.rs"):
        names.update(re.findall(r'"(compact_asr_[a-z0-9_]+)"', source.read_text()))
    return names


def shutdown_cut_secs():
    """How long the server gives streams cut at the deadline (src/server/drain.rs)."""
    text = (REPO / "src/server/drain.rs").read_text()
    match = re.search(r"CUT_TIMEOUT: Duration = Duration::from_secs\((\d+)\)", text)
    check(match, "cannot find CUT_TIMEOUT in src/server/drain.rs")
    return int(match.group(1)) if match else 0


def describe_image():
    """The Dockerfile's runtime stage as deploy/image.sh reads it."""
    out = subprocess.run(["bash", str(REPO / "deploy/image.sh"), "describe"],
                         capture_output=True, text=True, check=True).stdout
    return dict(line.split("=", 1) for line in out.splitlines())


def lint(deploy, k8s_files):
    tool("hadolint", "--no-color", deploy / "Dockerfile")
    tool("shellcheck", deploy / "image.sh")
    for version in K8S_VERSIONS:
        tool("kubernetes-validate", "--strict", "--quiet", "-k", version, *k8s_files)
    tool("check-jsonschema", "--builtin-schema", "vendor.compose-spec",
         deploy / "docker-compose.yml")


def check_config_file(text, defaults, optional, where):
    """A configuration file's keys and value types, against the server's own defaults."""
    try:
        config = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        check(False, f"{where}: invalid TOML: {err}")
        return {}
    for key, value in config.items():
        if key in defaults:
            check(type(value) is type(defaults[key]),
                  f"{where}: {key} = {value!r} is not a {type(defaults[key]).__name__}")
        else:
            check(key in optional, f"{where}: the server has no setting {key!r}")
    return {**defaults, **config}


def check_env(env, defaults, optional, where):
    for item in env:
        name = item["name"] if isinstance(item, dict) else item
        if name.startswith("COMPACT_ASR_") and name != "COMPACT_ASR_CONFIG":
            key = name.removeprefix("COMPACT_ASR_").lower()
            check(key in defaults or key in optional, f"{where}: {name} sets no server setting")


def check_kubernetes(k8s, image, defaults, optional, cut_secs, binary):
    kustomization = yaml.safe_load((k8s / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    present = {p.name for p in k8s.glob("*.yaml")} - {"kustomization.yaml"}
    check(listed == present, f"kustomization.yaml lists {sorted(listed)}, the folder has {sorted(present)}")
    objects = {}
    for name in sorted(present):
        for doc in yaml_documents(k8s / name):
            objects[(doc["kind"], doc["metadata"]["name"])] = doc

    deployment = objects.get(("Deployment", "compact-asr"))
    configmap = objects.get(("ConfigMap", "compact-asr"))
    if not check(deployment and configmap, "need Deployment and ConfigMap compact-asr"):
        return
    pod = deployment["spec"]["template"]
    labels = pod["metadata"]["labels"]
    spec = pod["spec"]
    [container] = spec["containers"]

    # The configuration: mounted where COMPACT_ASR_CONFIG says, valid for the server.
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    check_env(container.get("env", []), defaults, optional, "deployment.yaml env")
    config_path = env.get("COMPACT_ASR_CONFIG", "")
    mounts = {m["name"]: m["mountPath"] for m in container.get("volumeMounts", [])}
    config_volume = next((v for v in spec.get("volumes", [])
                          if v.get("configMap", {}).get("name") == "compact-asr"), None)
    if check(config_volume and config_volume["name"] in mounts, "the ConfigMap is not mounted"):
        directory = mounts[config_volume["name"]]
        key = config_path.removeprefix(directory.rstrip("/") + "/")
        check(config_path.startswith(directory) and key in configmap["data"],
              f"COMPACT_ASR_CONFIG={config_path} is not a key of the ConfigMap mounted at {directory}")
        settings = check_config_file(configmap["data"].get(key, ""), defaults, optional,
                                     f"configmap.yaml {key}")
    else:
        settings = defaults
    grpc_port, metrics_port = port(settings["listen"]), port(settings["metrics_listen"])

    # The model named by the config exists in the image (as deploy/image.sh stages it).
    model = Path(settings["model"])
    if not model.is_absolute():
        model = Path(image["workdir"]) / model
    with tempfile.TemporaryDirectory() as root:
        os.chmod(root, 0o755)
        subprocess.run(["bash", str(REPO / "deploy/image.sh"), "stage", root], check=True,
                       capture_output=True, env={**os.environ, "COMPACT_ASR_BIN": binary})
        check((Path(root) / model.relative_to("/")).is_file(),
              f"the configured model {model} is not in the image")

    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    check(ports.get("grpc") == grpc_port, f"container port grpc is not the listen port {grpc_port}")
    check(ports.get("metrics") == metrics_port, f"container port metrics is not {metrics_port}")
    annotations = pod["metadata"].get("annotations", {})
    check(annotations.get("prometheus.io/port") == str(metrics_port),
          "the prometheus.io/port annotation is not the metrics port")

    # Probes: Kubernetes' gRPC probes on the health service, on the gRPC port.
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        grpc = container.get(probe, {}).get("grpc")
        if check(grpc, f"{probe} is not a gRPC probe"):
            check(grpc["port"] == grpc_port, f"{probe} probes port {grpc['port']}, not {grpc_port}")
            service = grpc.get("service", "")
            check(service in ("", "compact_asr.v1.Recognizer"),
                  f"{probe} asks about service {service!r}, which the server does not report")

    # The shutdown budget: preStop, then the drain, then cut streams' finals.
    pre_stop = container["lifecycle"]["preStop"]
    command = pre_stop.get("exec", {}).get("command", [])
    pre_stop_secs = (int(command[1]) if command[:1] == ["sleep"] else
                     pre_stop.get("sleep", {}).get("seconds", 0))
    budget = pre_stop_secs + settings["shutdown_grace_secs"] + cut_secs
    grace = spec.get("terminationGracePeriodSeconds", 30)
    check(grace > budget,
          f"terminationGracePeriodSeconds {grace} does not cover preStop {pre_stop_secs} s + "
          f"shutdown_grace_secs {settings['shutdown_grace_secs']} + {cut_secs} s")
    liveness = container["livenessProbe"]
    patience = liveness.get("periodSeconds", 10) * liveness.get("failureThreshold", 3)
    check(patience > budget - pre_stop_secs,
          f"the liveness probe gives up after {patience} s, inside the {budget} s drain")

    # Non-root, as the image's USER.
    uid, gid = (int(n) for n in image["user"].split(":"))
    security = spec.get("securityContext", {})
    check(security.get("runAsNonRoot") is True, "runAsNonRoot is not set")
    check((security.get("runAsUser"), security.get("runAsGroup")) == (uid, gid),
          f"runAsUser/runAsGroup are not the image's USER {uid}:{gid}")
    check(container.get("securityContext", {}).get("allowPrivilegeEscalation") is False,
          "allowPrivilegeEscalation is not false")
    resources = container.get("resources", {})
    check(resources.get("requests", {}).get("cpu") and resources.get("requests", {}).get("memory")
          and resources.get("limits", {}).get("memory"), "missing CPU/memory requests or memory limit")
    cpu = str(resources.get("requests", {}).get("cpu", "0"))
    cores = int(cpu[:-1]) / 1000 if cpu.endswith("m") else float(cpu)
    check(0 < settings["batch_workers"] <= max(1, cores),
          f"batch_workers {settings['batch_workers']} should be set, at most the CPU request {cpu}")

    # Services select these pods and target their named ports; one is headless.
    services = [doc for (kind, _), doc in objects.items() if kind == "Service"]
    check(any(s["spec"].get("clusterIP") == "None" for s in services), "no headless Service")
    for service in services:
        name = service["metadata"]["name"]
        check(service["spec"]["selector"].items() <= labels.items(),
              f"Service {name} does not select the Deployment's pods")
        for p in service["spec"]["ports"]:
            check(p["targetPort"] in ports or p["targetPort"] in ports.values(),
                  f"Service {name} targets {p['targetPort']}, which the pods do not expose")
    check(deployment["spec"]["selector"]["matchLabels"].items() <= labels.items(),
          "the Deployment's selector does not match its pods")

    hpa = objects.get(("HorizontalPodAutoscaler", "compact-asr"))
    if check(hpa, "no HorizontalPodAutoscaler compact-asr"):
        target = hpa["spec"]["scaleTargetRef"]
        check((target["kind"], target["name"]) == ("Deployment", "compact-asr"),
              "the HPA does not scale the Deployment")
        check(any(m.get("resource", {}).get("name") == "cpu" for m in hpa["spec"]["metrics"]),
              "the HPA does not scale on CPU")
    for (kind, name), doc in objects.items():
        if kind == "PodDisruptionBudget":
            check(doc["spec"]["selector"]["matchLabels"].items() <= labels.items(),
                  f"PodDisruptionBudget {name} does not select the pods")


def check_compose(deploy, image, defaults, optional, cut_secs):
    compose = yaml.safe_load((deploy / "docker-compose.yml").read_text())
    server = compose["services"].get("compact-asr")
    if not check(server, "docker-compose.yml has no compact-asr service"):
        return
    # Paths as they resolve where the file lives: deploy/ in this repository.
    build = server.get("build", {})
    context = (REPO / "deploy" / build.get("context", ".")).resolve()
    check(context == REPO and (context / build.get("dockerfile", "Dockerfile")).resolve()
          == REPO / "deploy/Dockerfile",
          "compose does not build deploy/Dockerfile with the repository as context")
    environment = server.get("environment", {})
    check_env(list(environment), defaults, optional, "docker-compose.yml environment")
    check("COMPACT_ASR_CONFIG" not in environment or server.get("volumes"),
          "compose names a config file but mounts nothing")
    container_ports = {int(str(p).split(":")[-1]) for p in server.get("ports", [])}
    grpc_port, metrics_port = port(defaults["listen"]), port(defaults["metrics_listen"])
    exposed = {int(p) for p in image["expose"].split()}
    check({grpc_port, metrics_port} <= exposed, "the Dockerfile does not EXPOSE the server's ports")
    check({grpc_port, metrics_port} <= container_ports,
          f"compose does not publish container ports {grpc_port} and {metrics_port}")
    check(f":{grpc_port} " in image["healthcheck"] + " ",
          "the image's HEALTHCHECK does not probe the gRPC port")
    grace = server.get("stop_grace_period", "10s")
    check(re.fullmatch(r"\d+s", grace) and
          int(grace[:-1]) > defaults["shutdown_grace_secs"] + cut_secs,
          f"stop_grace_period {grace} does not cover shutdown_grace_secs + {cut_secs} s")

    # Prometheus scrapes the server's metrics port by its compose service name.
    prometheus = compose["services"].get("prometheus", {})
    mounted = {}
    for volume in prometheus.get("volumes", []) + compose["services"].get("grafana", {}).get("volumes", []):
        source, target = volume.split(":")[:2]
        check((deploy / source).exists(), f"compose mounts {source}, which does not exist")
        mounted[target] = deploy / source
    config_file = next((a.split("=", 1)[1] for a in prometheus.get("command", [])
                        if a.startswith("--config.file=")), None)
    check(config_file in mounted, f"Prometheus reads {config_file}, which compose does not mount")
    config = yaml.safe_load((deploy / "prometheus/prometheus.yml").read_text())
    targets = [t for job in config["scrape_configs"] for sc in job.get("static_configs", [])
               for t in sc["targets"]]
    check(f"compact-asr:{metrics_port}" in targets,
          f"Prometheus does not scrape compact-asr:{metrics_port} (it scrapes {targets})")
    return mounted


def check_grafana(deploy, mounted):
    provisioning = deploy / "grafana/provisioning"
    sources = yaml.safe_load((provisioning / "datasources/prometheus.yml").read_text())["datasources"]
    uids = {s["uid"] for s in sources}
    check(any(s["url"] == "http://prometheus:9090" for s in sources),
          "the Grafana data source is not the compose Prometheus")
    providers = yaml.safe_load((provisioning / "dashboards/compact-asr.yml").read_text())["providers"]
    exported = exported_metrics()
    used = set()
    for provider in providers:
        folder = mounted.get(provider["options"]["path"])
        if not check(folder, f"no volume mounts the dashboard folder {provider['options']['path']}"):
            continue
        for path in folder.glob("*.json"):
            try:
                dashboard = json.loads(path.read_text())
            except json.JSONDecodeError as err:
                check(False, f"{path.name}: invalid JSON: {err}")
                continue
            for panel in dashboard["panels"]:
                check(panel["datasource"]["uid"] in uids,
                      f"{path.name} panel {panel['title']!r} uses an unknown data source")
                for target in panel["targets"]:
                    for name in re.findall(r"compact_asr_[a-z0-9_]+", target["expr"]):
                        base = re.sub(r"_(bucket|sum|count)$", "", name)
                        check(base in exported or name in exported,
                              f"{path.name} panel {panel['title']!r} queries {name}, which the server does not export")
                        used.add(base)
    for name in REQUIRED_METRICS:
        check(name in exported, f"the server does not export {name}")
        check(name in used, f"no dashboard panel shows {name}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deploy", type=Path, default=REPO / "deploy")
    args = parser.parse_args()
    binary = os.environ.get("COMPACT_ASR_BIN")
    if not binary:
        sys.exit("set COMPACT_ASR_BIN to the compact-asr binary")
    deploy = args.deploy.resolve()
    k8s = deploy / "k8s"

    k8s_files = sorted(p for p in k8s.glob("*.yaml") if p.name != "kustomization.yaml")
    lint(deploy, k8s_files)
    defaults, optional = server_defaults(binary)
    image = describe_image()
    cut_secs = shutdown_cut_secs()
    check_kubernetes(k8s, image, defaults, optional, cut_secs, binary)
    mounted = check_compose(deploy, image, defaults, optional, cut_secs) or {}
    check_grafana(deploy, mounted)

    if failures:
        print(f"{len(failures)} deploy check(s) failed:", file=sys.stderr)
        for failure in dict.fromkeys(failures):
            print(f"- {failure}", file=sys.stderr)
        sys.exit(1)
    print("deploy checks passed: hadolint, shellcheck, Kubernetes schemas "
          f"({', '.join(K8S_VERSIONS)}), Compose spec, cross-file consistency")


if __name__ == "__main__":
    main()
