"""Runs the GitLab job `buildfarm client gitlab` prints with a real GitLab CI runner.

Usage: python3 ci_job_check.py BUILDFARM GITLAB_CI_LOCAL STANDIN_BUILDCTL

`gitlab-ci-local` (a local GitLab CI runner, from npm) executes the emitted job with its shell
executor, the client certificate as File variables, and a stand-in `buildctl` on PATH
(.ci/standin/buildctl) that records its arguments and answers per host. Each case asserts the
job's exit and its log lines:

- pinned: every pod answers; the job builds on the project's first pod in rendezvous order;
- fallback: that pod is down; the job says why it skipped it and builds on the next;
- service: no pod answers; the job builds on the pool's Service;
- missing variables: no File variables; the job fails at once, naming each one;
- refused certificate: the daemons refuse the client certificate (`broken pipe`); the job
  says so with a hint, on the probes and on the build, and fails;
- trust domains: with a release client and an untrusted fork client, the runner's own rule
  evaluation picks the release job (release pool, protected variables) on a protected ref and
  the untrusted job (fork pool, its own variables) everywhere else.

Every run also starts from a docker config holding another registry's login, which must stay;
and the registry password must never appear in the log.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

PASSWORD = "s3cret-registry-password"
failures = []


def check(case, ok, what, log):
    print(f"{'ok  ' if ok else 'FAIL'} {case}: {what}", flush=True)
    if not ok:
        failures.append(f"{case}: {what}")
        print("--- job log (end) ---\n" + "\n".join(log.splitlines()[-60:]) + "\n---", flush=True)


def main():
    buildfarm, gcl, standin = sys.argv[1:4]
    work = tempfile.mkdtemp(prefix="ci-job-check-")
    try:
        run_cases(buildfarm, gcl, standin, work)
        run_trust_cases(buildfarm, gcl, standin, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"ci job check: {len(failures)} failed")
    sys.exit(1 if failures else 0)


def run_cases(buildfarm, gcl, standin, work):
    project = os.path.join(work, "project")
    os.makedirs(project)
    spec = os.path.join(project, "farm.toml")
    # A mirrored, digest-pinned rootless image: the job must run exactly that.
    image = ("registry.internal/mirror/moby/buildkit:v0.32.2-rootless@sha256:"
             + "ab" * 32)
    with open(spec, "w") as f:
        f.write(f'name = "bk"\nnamespace = "ci-farm"\nimage = "{image}"\n'
                '[[tls.client]]\nname = "gitlab"\nnamespace = "gitlab"\n'
                '[[pool]]\narch = "amd64"\nreplicas = 3\n')
    certs = os.path.join(work, "certs")
    subprocess.run([buildfarm, "--spec", spec, "certs", "generate", "--certs", certs],
                   check=True, capture_output=True)
    job = subprocess.run([buildfarm, "--spec", spec, "client", "gitlab"],
                         check=True, capture_output=True, text=True).stdout
    job_yaml = job.replace("stage: build", "stage: test")
    with open(os.path.join(project, ".gitlab-ci.yml"), "w") as f:
        f.write(job_yaml)
    check("image", f"name: \"{image}\"" in job, "the job runs the farm's own image, digest and all", job)
    git = ["git", "-c", "user.email=ci@example.com", "-c", "user.name=ci"]
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    subprocess.run(["git", "remote", "add", "origin", "https://gitlab.example.com/group/project.git"],
                   cwd=project, check=True)
    subprocess.run(["git", "add", "-A"], cwd=project, check=True)
    subprocess.run(git + ["commit", "-qm", "job"], cwd=project, check=True)
    order = subprocess.run([buildfarm, "--spec", spec, "client", "endpoint", "--key", "group/project", "--all"],
                           check=True, capture_output=True, text=True).stdout.split()
    pods = [o.removeprefix("tcp://").rsplit(":", 1)[0] for o in order]
    service = "bk-amd64.ci-farm.svc"
    bin_dir = os.path.join(work, "bin")
    os.makedirs(bin_dir)
    shutil.copy(standin, os.path.join(bin_dir, "buildctl"))
    os.chmod(os.path.join(bin_dir, "buildctl"), 0o755)
    client = os.path.join(certs, "client", "gitlab")
    files = {"BUILDKIT_CA_CERT": "ca.crt", "BUILDKIT_CLIENT_CERT": "tls.crt", "BUILDKIT_CLIENT_KEY": "tls.key"}

    def run(case, hosts, with_files=True):
        home = os.path.join(work, f"home-{case}")
        os.makedirs(os.path.join(home, ".docker"))
        with open(os.path.join(home, ".docker", "config.json"), "w") as f:
            json.dump({"auths": {"other.example": {"auth": "b3RoZXI6bG9naW4="}}}, f, indent="\t")
        variables = {}
        if with_files:
            for var, name in files.items():
                with open(os.path.join(client, name)) as f:
                    variables[var] = {"type": "file", "values": {"*": f.read()}}
        variables.update({"CI_REGISTRY": "registry.example:5050", "CI_REGISTRY_USER": "gitlab-ci-token",
                          "CI_REGISTRY_PASSWORD": PASSWORD, "CI_REGISTRY_IMAGE": "registry.example:5050/group/project"})
        with open(os.path.join(project, ".gitlab-ci-local-variables.yml"), "w") as f:
            json.dump(variables, f)  # JSON is YAML
        hosts_file = os.path.join(work, f"hosts-{case}")
        with open(hosts_file, "w") as f:
            f.writelines(f"{h} {b}\n" for h, b in hosts.items())
        log_file = os.path.join(work, f"buildctl-{case}.log")
        open(log_file, "w").close()
        # gitlab-ci-local's own folder first: the Node it was installed with (22+) is there.
        path = f"{bin_dir}:{os.path.dirname(gcl)}:{os.environ['PATH']}"
        env = dict(os.environ, HOME=home, PATH=path, STANDIN_HOSTS=hosts_file,
                   STANDIN_LOG=log_file, NO_COLOR="1")
        done = subprocess.run([gcl, "--force-shell-executor", "--no-color", "build-image"], cwd=project, env=env,
                              capture_output=True, text=True, timeout=300)
        log = done.stdout + done.stderr
        with open(log_file) as f:
            calls = f.read().splitlines()
        with open(os.path.join(home, ".docker", "config.json")) as f:
            config = f.read()
        check(case, PASSWORD not in log, "the registry password never appears in the log", log)
        return done.returncode, log, calls, config

    def builds_on(calls, host):
        return any(" build " in f" {c} " and f"--tlsservername {host} " in c for c in calls)

    rc, log, calls, config = run("pinned", {})
    check("pinned", rc == 0, "the job passes", log)
    check("pinned", f"buildfarm: bk-amd64 pods in order for group/project: {' '.join(p.split('-')[2].split('.')[0] for p in pods)}" in log,
          "the log shows the pod order `client endpoint --all` gives", log)
    check("pinned", f"buildfarm: building on {pods[0]} (pinned)" in log, f"building on {pods[0]} (pinned)", log)
    check("pinned", builds_on(calls, pods[0]), "buildctl built there", "\n".join(calls))
    try:
        auths = json.loads(config)["auths"]
        merged = set(auths) == {"other.example", "registry.example:5050"}
    except (ValueError, KeyError):
        merged = False
    check("pinned", merged, "the docker config keeps the earlier login and gains the job's", config)

    rc, log, calls, _ = run("fallback", {pods[0]: "down"})
    check("fallback", rc == 0, "the job passes", log)
    check("fallback", f"buildfarm: skipped {pods[0]}: error: failed to list workers: Unavailable: connection error" in log,
          "the skipped pod is named with the first line of its error", log)
    short = pods[0].split(".")[0]
    check("fallback", f"buildfarm: building on {pods[1]} (fallback: {short} skipped)" in log,
          f"building on {pods[1]} (fallback: {short} skipped)", log)
    check("fallback", builds_on(calls, pods[1]), "buildctl built there", "\n".join(calls))

    rc, log, calls, _ = run("service", {p: "down" for p in pods})
    check("service", rc == 0, "the job passes", log)
    check("service", f"buildfarm: building on {service} (service: no pod answered)" in log,
          "building on the Service, saying why", log)
    check("service", builds_on(calls, service), "buildctl built there", "\n".join(calls))

    rc, log, calls, _ = run("missing-variables", {}, with_files=False)
    check("missing-variables", rc != 0, "the job fails", log)
    for var in files:
        check("missing-variables", f"buildfarm: ${var} is not set" in log, f"{var} is named", log)
    check("missing-variables", "protected variables reach only protected branches and tags" in log,
          "the log says protected variables are out of an unprotected ref's sight", log)
    check("missing-variables", not calls, "buildctl never ran", "\n".join(calls))

    rc, log, calls, _ = run("refused-certificate", {h: "refused" for h in pods + [service]})
    check("refused-certificate", rc != 0, "the job fails", log)
    check("refused-certificate", "write: broken pipe" in log, "the daemon's error is in the log", log)
    hint = "buildfarm: hint: the daemon refused this job's client certificate"
    # Counted in the job's own output (gitlab-ci-local repeats a failed job's stderr after it).
    check("refused-certificate", log.count("build-image > " + hint) == len(pods) + 1,
          "one hint per refused probe and one for the build", log)
    check("refused-certificate", f"'buildfarm status --addr {service}:1234' shows which side refused" in log,
          "the build's hint names the address to ask", log)


def run_trust_cases(buildfarm, gcl, standin, work):
    """Trust domains: one .gitlab-ci.yml with both jobs; the runner decides which runs."""
    project = os.path.join(work, "trust")
    os.makedirs(project)
    spec = os.path.join(project, "farm.toml")
    with open(spec, "w") as f:
        f.write('name = "bk"\nnamespace = "ci-farm"\nmode = "userns"\n'
                '[[tls.client]]\nname = "release"\nnamespace = "ci-release"\npools = ["release"]\n'
                '[[tls.client]]\nname = "forks"\nnamespace = "ci-forks"\npools = ["forks"]\nuntrusted = true\n'
                '[[pool]]\nname = "release"\narch = "amd64"\nreplicas = 1\n'
                '[[pool]]\nname = "forks"\narch = "amd64"\nreplicas = 1\nuntrusted = true\n')
    certs = os.path.join(work, "trust-certs")
    subprocess.run([buildfarm, "--spec", spec, "certs", "generate", "--certs", certs],
                   check=True, capture_output=True)
    job = subprocess.run([buildfarm, "--spec", spec, "client", "gitlab", "--no-pin"],
                         check=True, capture_output=True, text=True).stdout
    with open(os.path.join(project, ".gitlab-ci.yml"), "w") as f:
        f.write(job.replace("stage: build", "stage: test"))
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    subprocess.run(["git", "remote", "add", "origin", "https://gitlab.example.com/group/trust.git"],
                   cwd=project, check=True)
    subprocess.run(["git", "add", "-A"], cwd=project, check=True)
    subprocess.run(["git", "-c", "user.email=ci@example.com", "-c", "user.name=ci", "commit", "-qm", "job"],
                   cwd=project, check=True)
    bin_dir = os.path.join(work, "bin")
    path = f"{bin_dir}:{os.path.dirname(gcl)}:{os.environ['PATH']}"
    sets = {"release": "BUILDKIT", "forks": "BUILDKIT_UNTRUSTED"}
    for protected, client, pool, name in [("true", "release", "release", "build-image"),
                                          ("false", "forks", "forks", "build-image-untrusted")]:
        case = f"trust-protected-{protected}"
        home = os.path.join(work, f"home-{case}")
        os.makedirs(os.path.join(home, ".docker"))
        variables = {"CI_REGISTRY": "registry.example:5050", "CI_REGISTRY_USER": "gitlab-ci-token",
                     "CI_REGISTRY_PASSWORD": PASSWORD, "CI_REGISTRY_IMAGE": "registry.example:5050/group/trust"}
        # As GitLab does: the protected (release) variables only on a protected ref.
        for owner, prefix in sets.items():
            if owner == "release" and protected != "true":
                continue
            for var, file in [("CA_CERT", "ca.crt"), ("CLIENT_CERT", "tls.crt"), ("CLIENT_KEY", "tls.key")]:
                with open(os.path.join(certs, "client", owner, file)) as f:
                    variables[f"{prefix}_{var}"] = {"type": "file", "values": {"*": f.read()}}
        with open(os.path.join(project, ".gitlab-ci-local-variables.yml"), "w") as f:
            json.dump(variables, f)
        log_file = os.path.join(work, f"buildctl-{case}.log")
        open(log_file, "w").close()
        hosts_file = os.path.join(work, f"hosts-{case}")
        open(hosts_file, "w").close()
        env = dict(os.environ, HOME=home, PATH=path, STANDIN_HOSTS=hosts_file,
                   STANDIN_LOG=log_file, NO_COLOR="1")
        flag = ["--variable", f"CI_COMMIT_REF_PROTECTED={protected}"]
        listed = subprocess.run([gcl, "--list", "--no-color"] + flag, cwd=project, env=env,
                                capture_output=True, text=True, timeout=300)
        active = [line.split()[0] for line in listed.stdout.splitlines()
                  if line.startswith("build-image")]
        check(case, active == [name], f"the runner's rules pick `{name}` alone (got {active})",
              listed.stdout + listed.stderr)
        done = subprocess.run([gcl, "--force-shell-executor", "--no-color"] + flag, cwd=project,
                              env=env, capture_output=True, text=True, timeout=300)
        log = done.stdout + done.stderr
        with open(log_file) as f:
            calls = f.read().splitlines()
        check(case, done.returncode == 0, "the pipeline passes", log)
        host = f"bk-{pool}.ci-farm.svc"
        check(case, any(f"--tlsservername {host} " in c and " build " in c for c in calls),
              f"client `{client}` builds on pool `{pool}` ({host})", "\n".join(calls))
        other = "forks" if pool == "release" else "release"
        check(case, not any(f"bk-{other}." in c for c in calls),
              f"nothing reaches pool `{other}`", "\n".join(calls))
        check(case, PASSWORD not in log, "the registry password never appears in the log", log)


if __name__ == "__main__":
    main()
