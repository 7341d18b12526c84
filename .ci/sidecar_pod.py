"""Wraps `buildfarm client sidecar` output (stdin) in a runner Pod, for schema validation.

The sidecar comes as `initContainers` (a native sidecar, `restartPolicy: Always`) or, for
clusters without native sidecars, as extra `containers`."""
import sys

import yaml

snippet = yaml.safe_load(sys.stdin)
job = {
    "name": "job",
    "image": "busybox:1.37",
    "command": ["sleep", "infinity"],
    "volumeMounts": [{"name": "buildkit-socket", "mountPath": "/run/buildkit-shared"}],
}
pod = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "runner"},
    "spec": {"containers": [job] + snippet.get("containers", []), "volumes": snippet["volumes"]},
}
if "initContainers" in snippet:
    pod["spec"]["initContainers"] = snippet["initContainers"]
yaml.safe_dump(pod, sys.stdout, sort_keys=False)
