"""Exit 1 unless two YAML streams hold the same objects in the same order (formatting aside)."""
import sys

import yaml


def load(path):
    with open(path) as f:
        return [doc for doc in yaml.safe_load_all(f) if doc is not None]


a, b = load(sys.argv[1]), load(sys.argv[2])
if a != b:
    ids = lambda docs: [(d.get("kind"), d.get("metadata", {}).get("name")) for d in docs]
    print(f"streams differ:\n  {sys.argv[1]}: {ids(a)}\n  {sys.argv[2]}: {ids(b)}", file=sys.stderr)
    for x, y in zip(a, b):
        if x != y:
            print(f"first difference in {x.get('kind')} {x.get('metadata', {}).get('name')}", file=sys.stderr)
            break
    sys.exit(1)
print(f"{len(a)} objects identical")
