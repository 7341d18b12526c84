"""Wraps `buildfarm client sidecar --format FORMAT` output (stdin) in the Pod it ends up in, for
schema validation. FORMAT (argv[1]):

- yaml: the sidecar comes as `initContainers` (a native sidecar, `restartPolicy: Always`) or,
  for clusters without native sidecars, as extra `containers`; a job container is added.
- gitlab: a `[[runners.kubernetes.pod_spec]]` strategic patch, applied to a job pod with its
  `build` container (containers merge by name, as a strategic merge does).
- arc: gha-runner-scale-set values; the Pod is `template.spec`."""
import sys
import tomllib

import yaml

JOB = {
    "image": "busybox:1.37",
    "command": ["sleep", "infinity"],
}


def pod(spec):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "runner"}, "spec": spec}


def merged(base, patch):
    """The `containers` lists merged by name, the other lists appended."""
    out = dict(base)
    for key, value in patch.items():
        if key == "containers":
            by_name = {c["name"]: dict(c) for c in out.get("containers", [])}
            for c in value:
                by_name.setdefault(c["name"], {}).update(c)
            out["containers"] = list(by_name.values())
        else:
            out[key] = out.get(key, []) + value
    return out


fmt = sys.argv[1] if len(sys.argv) > 1 else "yaml"
text = sys.stdin.read()
if fmt == "yaml":
    snippet = yaml.safe_load(text)
    job = dict(JOB, name="job", volumeMounts=[{"name": "buildkit-socket", "mountPath": "/run/buildkit-shared"}])
    spec = {"containers": [job] + snippet.get("containers", []), "volumes": snippet["volumes"]}
    if "initContainers" in snippet:
        spec["initContainers"] = snippet["initContainers"]
elif fmt == "gitlab":
    patch = yaml.safe_load(tomllib.loads(text)["runners"]["kubernetes"]["pod_spec"][0]["patch"])
    spec = merged({"containers": [dict(JOB, name="build")]}, patch)
elif fmt == "arc":
    spec = yaml.safe_load(text)["template"]["spec"]
else:
    sys.exit(f"unknown format {fmt}")
yaml.safe_dump(pod(spec), sys.stdout, sort_keys=False)
