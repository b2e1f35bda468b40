#!/usr/bin/env bash
# k8s-validate.sh - validates every manifest in deploy/kubernetes/ offline:
#  1. schema: PyPI's kubernetes-validate --strict (an unknown or misspelt field fails) against
#     every Kubernetes version it bundles from K8S_MIN (default 1.31) up. Why 1.31: the Jobs
#     use podFailurePolicy (GA in 1.31) and backoffLimitPerIndex (on by default since 1.29, GA
#     in 1.33); in Dec 2026 upstream supports 1.35-1.37, and managed services (EKS, GKE, AKS
#     extended support) still run 1.31-1.34. kubernetes-validate 1.37.0 bundles 1.25-1.37.
#  2. the contract with fer-batch that no schema knows: Indexed completion mode, the
#     completion count equal to --shard-count, no --shard-index (the pod's index comes from
#     JOB_COMPLETION_INDEX), podFailurePolicy failing the Job on exit code 2 of the fer-batch
#     container and ignoring DisruptionTarget, per-index backoff, restartPolicy Never, a grace
#     period >= 120 s, and concurrencyPolicy Forbid on the CronJob.
# Exits non-zero on any failure. Run from the repository root. CI time: ~15 s (pip) + ~5 s.
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/cluster/venv.sh
deploy_venv_need kubernetes_validate kubernetes-validate==1.37.0

K8S_MIN=${K8S_MIN:-1.31}
shopt -s nullglob
manifests=(deploy/kubernetes/*.yaml)
[ ${#manifests[@]} -gt 0 ] || { echo "FAIL: no manifests in deploy/kubernetes/"; exit 1; }

# versions bundled by the installed kubernetes-validate, >= K8S_MIN
mapfile -t versions < <("$DEPLOY_PY" - "$K8S_MIN" <<'PY'
import sys, pathlib, re, kubernetes_validate
root = pathlib.Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
lo = tuple(int(x) for x in sys.argv[1].split("."))
found = sorted({tuple(int(x) for x in m.groups()) for p in root.iterdir()
                if (m := re.fullmatch(r"v(\d+)\.(\d+)\.0-local-strict", p.name))})
for v in found:
    if v >= lo:
        print(f"{v[0]}.{v[1]}.0")
PY
)
[ ${#versions[@]} -gt 0 ] || { echo "FAIL: kubernetes-validate bundles no version >= $K8S_MIN"; exit 1; }

fail=0
echo "== kubernetes-validate --strict: ${#manifests[@]} manifests x Kubernetes ${versions[*]}"
for v in "${versions[@]}"; do
  if out=$("$DEPLOY_VENV/bin/kubernetes-validate" --strict --quiet -k "$v" "${manifests[@]}" 2>&1); then
    echo "ok   - Kubernetes $v: ${manifests[*]}"
  else
    echo "FAIL - Kubernetes $v:"; echo "$out" | sed 's/^/       /'; fail=1
  fi
done

# the validator must have teeth: a misspelt field has to fail under --strict
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
sed 's/backoffLimitPerIndex:/backoffLimitPerIndx:/' deploy/kubernetes/fer-batch-indexed-job.yaml > "$tmp/misspelt.yaml"
if "$DEPLOY_VENV/bin/kubernetes-validate" --strict --quiet -k "${versions[-1]}" "$tmp/misspelt.yaml" >/dev/null 2>&1; then
  echo "FAIL - a misspelt field (backoffLimitPerIndx) passed --strict validation"; fail=1
else
  echo "ok   - a misspelt field (backoffLimitPerIndx) is rejected by --strict"
fi

echo "== the fer-batch contract in the Job specs"
"$DEPLOY_PY" - "${manifests[@]}" <<'PY' || fail=1
import sys, yaml

failures = 0
def check(what, ok):
    global failures
    print(("ok   - " if ok else "FAIL - ") + what)
    failures += not ok

def flag(args, name):
    return args[args.index(name) + 1] if name in args else None

jobs = 0
for path in sys.argv[1:]:
    for doc in yaml.safe_load_all(open(path)):
        if not doc:
            continue
        kind, name = doc["kind"], doc["metadata"]["name"]
        if kind == "CronJob":
            check(f"{path}: {name}: concurrencyPolicy Forbid", doc["spec"].get("concurrencyPolicy") == "Forbid")
            job = doc["spec"]["jobTemplate"]["spec"]
        elif kind == "Job":
            job = doc["spec"]
        else:
            continue
        jobs += 1
        where = f"{path}: {kind} {name}"
        pod = job["template"]["spec"]
        containers = {c["name"]: c for c in pod["containers"]}
        check(f"{where}: has a container named fer-batch", "fer-batch" in containers)
        c = containers.get("fer-batch", {})
        args = [str(a) for a in c.get("command", []) + c.get("args", [])]
        check(f"{where}: completionMode Indexed", job.get("completionMode") == "Indexed")
        check(f"{where}: runs `fer-batch run`", "run" in args)
        count = flag(args, "--shard-count")
        check(f"{where}: --shard-count {count} == completions {job.get('completions')}",
              count is not None and count.isdigit() and int(count) == job.get("completions"))
        check(f"{where}: no --shard-index (the binary reads JOB_COMPLETION_INDEX)",
              "--shard-index" not in args and not any("JOB_COMPLETION_INDEX" in a for a in args))
        check(f"{where}: --out is a dataset (ends with /)", (flag(args, "--out") or "").endswith("/"))
        check(f"{where}: backoffLimitPerIndex set", isinstance(job.get("backoffLimitPerIndex"), int))
        check(f"{where}: restartPolicy Never", pod.get("restartPolicy") == "Never")
        grace = pod.get("terminationGracePeriodSeconds", 30)
        check(f"{where}: terminationGracePeriodSeconds {grace} >= 120", grace >= 120)
        rules = job.get("podFailurePolicy", {}).get("rules", [])
        check(f"{where}: podFailurePolicy FailJob on exit code 2 of fer-batch",
              any(r["action"] == "FailJob" and r.get("onExitCodes", {}).get("operator") == "In"
                  and 2 in r["onExitCodes"].get("values", [])
                  and r["onExitCodes"].get("containerName") in (None, "fer-batch") for r in rules))
        check(f"{where}: no rule matches exit codes 1 or 143 (those are retried per index)",
              not any(r.get("onExitCodes", {}).get("operator") == "In"
                      and {1, 143} & set(r["onExitCodes"].get("values", [])) for r in rules))
        check(f"{where}: podFailurePolicy ignores DisruptionTarget",
              any(r["action"] == "Ignore" and any(c.get("type") == "DisruptionTarget" and c.get("status") == "True"
                                                  for c in r.get("onPodConditions", [])) for r in rules))
check(f"found {jobs} Job specs (Indexed Job + CronJob)", jobs >= 2)
sys.exit(1 if failures else 0)
PY

[ $fail = 0 ] && echo "k8s-validate: all passed" || { echo "k8s-validate: FAILED"; exit 1; }
