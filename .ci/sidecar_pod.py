"""Wraps `buildfarm client sidecar` output (stdin) in a runner Pod, for schema validation."""
import sys

import yaml

snippet = yaml.safe_load(sys.stdin)
job = {
    "name": "job",
    "image": "moby/buildkit:v0.32.2",
    "command": ["sleep", "infinity"],
    "volumeMounts": [{"name": "buildkit-socket", "mountPath": "/run/buildkit-shared"}],
}
pod = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "runner"},
    "spec": {"containers": [job] + snippet["containers"], "volumes": snippet["volumes"]},
}
yaml.safe_dump(pod, sys.stdout, sort_keys=False)
