"""Wraps `buildfarm client github` steps (stdin) in a workflow, for actionlint: one job on
`push` and `pull_request`, the steps as they are. The job-level lines a trust-domain snippet
names in its header (`#   if: ...`, `#   environment: ...`) become the job's, so actionlint checks
them too. With `--after STEP`, one more step follows theirs (a step CI knows actionlint must
refuse shows the check runs)."""
import sys

steps = sys.stdin.read()
job_lines = [line[4:] for line in steps.splitlines()
             if line.startswith("#   if: ") or line.startswith("#   environment: ")]
print("name: build\non: [push, pull_request]\njobs:\n  build:\n    runs-on: ubuntu-latest")
for line in job_lines:
    print("    " + line)
print("    steps:")
for line in steps.splitlines():
    print("      " + line if line else "")
if len(sys.argv) > 2 and sys.argv[1] == "--after":
    for line in sys.argv[2].splitlines():
        print("      " + line)
