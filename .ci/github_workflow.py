"""Wraps `buildfarm client github` steps (stdin) in a workflow, for actionlint: one job on
`push`, the steps as they are. With `--after STEP`, one more step follows theirs (a step CI
knows actionlint must refuse shows the check runs)."""
import sys

steps = sys.stdin.read()
print("name: build\non: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:")
for line in steps.splitlines():
    print("      " + line if line else "")
if len(sys.argv) > 2 and sys.argv[1] == "--after":
    for line in sys.argv[2].splitlines():
        print("      " + line)
