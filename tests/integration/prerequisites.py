"""What the opt-in real-engine tests need, detected without calling anything; and the teardown they share.

Each `*_missing` function returns one line per absent prerequisite, so a skip reason names all of them at once.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
OPT_IN_ENV = "TEAMSTACK_INTEGRATION"

AWS_CREDENTIALS_MISSING = (
    "no AWS credentials (AWS_ACCESS_KEY_ID, AWS_PROFILE, AWS_WEB_IDENTITY_TOKEN_FILE, ~/.aws/credentials)"
)
GCP_CREDENTIALS_MISSING = (
    "no Google credentials (GOOGLE_APPLICATION_CREDENTIALS naming a file, the gcloud ADC file "
    "~/.config/gcloud/application_default_credentials.json, GOOGLE_OAUTH_ACCESS_TOKEN)"
)


def local_backend(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A throwaway file backend under `tmp_path` and the engine environment that uses it (passphrase secrets)."""
    backend = tmp_path / "pulumi-state"
    backend.mkdir()
    env = {
        "PULUMI_BACKEND_URL": backend.as_uri(),
        "PULUMI_CONFIG_PASSPHRASE": os.environ.get("PULUMI_CONFIG_PASSPHRASE", "teamstack-integration-test"),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
    }
    return backend, env


def aws_credentials() -> bool:
    if any(os.environ.get(name) for name in ("AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE")):
        return True
    shared = os.environ.get("AWS_SHARED_CREDENTIALS_FILE") or str(Path.home() / ".aws" / "credentials")
    return Path(shared).is_file()


def gcp_adc_file() -> Path:
    """Where `gcloud auth application-default login` writes its credentials (CLOUDSDK_CONFIG moves gcloud's dir)."""
    config_dir = os.environ.get("CLOUDSDK_CONFIG") or str(Path.home() / ".config" / "gcloud")
    return Path(config_dir) / "application_default_credentials.json"


def gcp_credentials() -> bool:
    """Credentials both the Pulumi GCP provider and the Google client libraries pick up."""
    key_file = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    if key_file and Path(key_file).is_file():
        return True
    return gcp_adc_file().is_file() or bool(os.environ.get("GOOGLE_OAUTH_ACCESS_TOKEN"))


def engine_missing() -> list[str]:
    """The opt-in and the Pulumi CLI the Automation API drives."""
    missing = []
    if os.environ.get(OPT_IN_ENV) != "1":
        missing.append(f"{OPT_IN_ENV}=1 is not set")
    if shutil.which("pulumi") is None:
        missing.append("the pulumi CLI is not on PATH")
    return missing


def credentials_missing(cloud: str) -> list[str]:
    if cloud == "gcp":
        return [] if gcp_credentials() else [GCP_CREDENTIALS_MISSING]
    return [] if aws_credentials() else [AWS_CREDENTIALS_MISSING]


def variables_missing(variables: Mapping[str, str]) -> list[str]:
    """`variables`: environment variable -> what it holds, for the skip reason."""
    return [f"{name} ({meaning}) is not set" for name, meaning in variables.items() if not os.environ.get(name)]


def retained_resources(stack: Any) -> list[str]:
    """Resources in the stack's state that `destroy` leaves in the account (retainOnDelete)."""
    deployment = stack.export_stack().deployment or {}
    return [
        f"{resource['type']} {resource.get('id') or resource['urn']}"
        for resource in deployment.get("resources") or []
        if resource.get("retainOnDelete") and resource.get("custom", True)
    ]


def teardown(
    stack: Any,
    stack_name: str,
    env: dict[str, str],
    backend: Path,
    retained_advice: str,
    before_retry: Callable[[], list[str]] | None = None,
) -> list[str]:
    """Unprotect, destroy and remove the stack; the problems met, each one line (teardown never raises).

    `retained_advice` tells the operator how to delete what is retained on delete. `before_retry`, if given,
    runs after a failed destroy (returning its own problems) and destroy is tried once more.
    """
    problems: list[str] = []
    retained: list[str] = []
    try:
        retained = retained_resources(stack)
    except Exception as error:
        problems.append(f"could not read the state for retained resources: {error}")
    # The catalog buckets and the KMS key are protected: destroy refuses them until unprotected.
    unprotect = subprocess.run(
        ["pulumi", "state", "unprotect", "--all", "--yes", "--non-interactive", "--stack", stack_name],
        cwd=REPO, env={**os.environ, **env}, capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
    if unprotect.returncode != 0:
        problems.append(f"pulumi state unprotect failed ({unprotect.returncode}): {unprotect.stderr.strip()}")
    destroyed = False
    failures: list[str] = []
    for attempt in range(1 if before_retry is None else 2):
        if attempt and before_retry is not None:
            print(f"destroy failed, retrying once: {failures[-1]}")
            problems.extend(before_retry())
        try:
            stack.destroy(on_output=print)
            destroyed = True
            break
        except Exception as error:
            failures.append(f"destroy failed: {error}")
    if destroyed:
        try:
            stack.workspace.remove_stack(stack_name)
        except Exception as error:
            problems.append(f"remove stack failed: {error}")
    else:
        problems.extend(failures)
        problems.append(
            f"the stack's state is kept in {backend}: PULUMI_BACKEND_URL={backend.as_uri()} "
            f"pulumi destroy --stack {stack_name} --cwd {REPO} (recreate stacks/Pulumi.{stack_name}.yaml first)"
        )
    if retained:
        print(
            f"\nWARNING: {len(retained)} resources of {stack_name} are retained on delete and still exist; "
            f"delete them by hand ({retained_advice}):\n  " + "\n  ".join(retained)
        )
    return problems
