"""The Kubernetes layer's pure parts: quantities, quota arithmetic, chart values, kubeconfigs, Dask defaults."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, cast

import pytest

from components.k8s import spec
from components.k8s.layer import AwsAutoscaling, KubernetesLayerArgs, PodIdentityBinding, WorkloadIdentityBinding
from teamstack import envhash, quantity
from teamstack.client.specs import load_spec
from teamstack.config import SUPPORTED_KUBERNETES_VERSIONS, KubernetesConfig, QuotaConfig
from teamstack.manifest import DaskDefaults
from teamstack.pools import NodePool, aws_node_type

# --- quantities ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [("500m", Decimal("0.5")), ("2", Decimal(2)), ("1.5", Decimal("1.5")), ("8Gi", Decimal(8 * 2**30)),
     ("1k", Decimal(1000)), ("512Mi", Decimal(512 * 2**20)), ("0", Decimal(0))],
)  # fmt: skip
def test_quantities_parse_to_exact_values(text: str, value: Decimal) -> None:
    assert quantity.parse(text) == value


@pytest.mark.parametrize("text", ["", "lots", "-1", "8GB", "1e3", "2 Gi", "Gi", "8Gi\n"])
def test_malformed_quantities_are_refused_with_the_accepted_forms(text: str) -> None:
    with pytest.raises(ValueError, match="not a Kubernetes quantity"):
        quantity.parse(text)


def test_quantities_are_written_back_floored_in_kubernetes_units() -> None:
    assert quantity.cpu(Decimal("270")) == "270"
    assert quantity.cpu(Decimal("0.75")) == "750m"
    assert quantity.cpu(Decimal("0.0005")) == "0"
    assert quantity.memory(quantity.parse("8Gi")) == "8Gi"
    assert quantity.memory(quantity.parse("1Gi") * Decimal("0.75")) == "768Mi"


# --- quota ------------------------------------------------------------------------------------------------------

def _pool(name: str, kind: Literal["cpu", "gpu"], max_size: int, instance_type: str) -> NodePool:
    return NodePool(name, kind, (aws_node_type(instance_type),), "on-demand", 0, 0, max_size, 100)


POOLS = [
    _pool("cpu", "cpu", 20, "m7i.4xlarge"),
    _pool("gpu-t4", "gpu", 8, "g4dn.xlarge"),
    _pool("gpu-a10g", "gpu", 2, "g5.12xlarge"),
]


def test_the_gpu_share_defaults_to_every_gpu_the_gpu_pools_can_hold() -> None:
    assert spec.team_gpus(KubernetesConfig(), POOLS) == 16
    assert spec.team_gpus(KubernetesConfig(), POOLS[:1]) == 0
    assert spec.team_gpus(KubernetesConfig(quota=QuotaConfig(gpus=4)), POOLS) == 4
    # Never above what the pools hold (the config refuses such a quota; the layer never writes one).
    assert spec.team_gpus(KubernetesConfig(quota=QuotaConfig(gpus=40)), POOLS) == 16


def test_batch_share_is_a_floored_fraction_of_the_quota() -> None:
    settings = KubernetesConfig.model_validate(
        {"quota": {"cpu": "10", "memory": "100Gi", "pods": 9}, "batchSharePercent": 75}
    )
    assert spec.batch_quota_hard(settings, gpus=3) == {
        "requests.cpu": "7500m",
        "requests.memory": "75Gi",
        "requests.nvidia.com/gpu": "2",
        "pods": "6",
    }


def test_quota_limits_default_to_the_request_totals_and_forbid_exposed_services() -> None:
    settings = KubernetesConfig.model_validate({"quota": {"cpu": "8", "memory": "32Gi", "limitsCpu": "16"}})
    hard = spec.quota_hard(settings, gpus=2)
    assert hard["limits.cpu"] == "16" and hard["limits.memory"] == "32Gi"
    assert hard["requests.nvidia.com/gpu"] == "2"
    assert "limits.nvidia.com/gpu" not in hard  # extended resources are quota'd by requests only
    assert hard["services.loadbalancers"] == hard["services.nodeports"] == "0"


# --- chart values -----------------------------------------------------------------------------------------------


def test_every_supported_kubernetes_version_has_a_matching_autoscaler_image() -> None:
    assert set(spec.AUTOSCALER_IMAGE_TAGS) == set(SUPPORTED_KUBERNETES_VERSIONS)
    for version, tag in spec.AUTOSCALER_IMAGE_TAGS.items():
        assert tag.startswith(f"v{version}.")


def test_autoscaler_values_carry_no_credentials_and_tolerate_system_nodes() -> None:
    values = spec.autoscaler_values("ml-vision", "us-west-2", "1.33", {"a": "b"}, [spec.SYSTEM_TOLERATION])
    text = json.dumps(values)
    assert "awsAccessKeyID" not in text and "awsSecretAccessKey" not in text
    assert values["rbac"]["serviceAccount"]["name"] == spec.AUTOSCALER_SERVICE_ACCOUNT
    assert values["nodeSelector"] == {"a": "b"}


def test_operator_watches_exactly_the_given_namespaces() -> None:
    values = spec.operator_values(["team", "team-research"], {}, [])
    assert values["kopfArgs"] == ["--namespace=team", "--namespace=team-research"]


def test_gke_subjects_keep_people_and_groups_only() -> None:
    subjects = spec.gke_rbac_subjects(
        ["group:ds@example.com", "user:ana@example.com", "serviceAccount:ci@p.iam.gserviceaccount.com"]
    )
    assert subjects == [spec.RbacSubject("Group", "ds@example.com"), spec.RbacSubject("User", "ana@example.com")]


# --- kubeconfigs ------------------------------------------------------------------------------------------------


def test_eks_kubeconfig_gets_a_token_from_the_aws_cli() -> None:
    config = json.loads(spec.eks_kubeconfig("ml-vision", "https://x.eks.amazonaws.com", "Q0E=", "us-west-2"))
    (user,) = config["users"]
    assert user["user"]["exec"]["command"] == "aws"
    assert user["user"]["exec"]["args"] == [
        "--region", "us-west-2", "eks", "get-token", "--cluster-name", "ml-vision", "--output", "json",
    ]  # fmt: skip
    assert config["clusters"][0]["cluster"] == {
        "server": "https://x.eks.amazonaws.com",
        "certificate-authority-data": "Q0E=",
    }
    assert config["current-context"] == "ml-vision"


def test_gke_kubeconfig_uses_the_gke_auth_plugin_over_https() -> None:
    config = json.loads(spec.gke_kubeconfig("ml-geo", "203.0.113.10", "Q0E="))
    assert config["users"][0]["user"]["exec"]["command"] == "gke-gcloud-auth-plugin"
    assert config["clusters"][0]["cluster"]["server"] == "https://203.0.113.10"


# --- Dask defaults ----------------------------------------------------------------------------------------------


def test_dask_defaults_fit_the_manifest_schema() -> None:
    defaults = spec.dask_defaults(KubernetesConfig(), "team", "registry/team/dask:abc", {"k": "cpu"}, {"k": "gpu"})
    parsed = DaskDefaults.model_validate(defaults)
    assert parsed.gpu_worker_resources.limits["nvidia.com/gpu"] == "1"
    assert parsed.idle_timeout_seconds == 30 * 60


def test_the_default_environment_is_tagged_like_any_client_spec(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_bytes(b"dask==2026.8.0\n")
    spec_bytes, tag, key = spec.default_environment(tmp_path, "0123456789abcdef")
    # Normalised exactly as a client normalises the same file (its Python, the shared Dask packages it lacks).
    normalised = load_spec(tmp_path / "requirements.txt").content
    assert spec_bytes == normalised and b"\ndask==2026.8.0\n" in normalised
    assert tag == envhash.image_tag("0123456789abcdef", "cpu", normalised)
    assert envhash.parse_spec_key(key) == ("cpu", tag, "requirements.txt")


def test_the_shipped_default_environment_pins_dask_like_the_lock() -> None:
    lock = (Path(__file__).resolve().parents[1] / "requirements-dev.txt").read_text().splitlines()
    default = (spec.DEFAULT_ENVIRONMENT_DIR / spec.DEFAULT_ENVIRONMENT_FILE).read_text().splitlines()
    pinned = {line.split("==")[0]: line for line in default if "==" in line}
    for name in ("dask", "distributed", "cloudpickle", "msgpack"):
        assert pinned[name] in lock, f"{name}: clients and workers must run the same version"


# --- the layer's arguments: each cloud's parts, and only those --------------------------------------------------


def _args(**changes: object) -> None:
    base: dict[str, Any] = {
        "team": "team",
        "cloud": "aws",
        "kubernetes_version": "1.33",
        "settings": KubernetesConfig(),
        "provider": cast(Any, object()),
        "namespace": "team",
        "pools": POOLS,
        "identity": PodIdentityBinding(),
        "data_scientists": [spec.RbacSubject("Group", "team:data-scientists")],
        "image": "registry/team/dask:tag",
        "image_python": "/opt/env/bin/python",
        "tags": {"team": "team"},
        "autoscaling": AwsAutoscaling("team", "us-west-2"),
    }
    gke = {"cloud": "gcp", "identity": WorkloadIdentityBinding("s@p.iam", "w@p.iam"), "autoscaling": None}
    KubernetesLayerArgs(**{**base, **(gke if changes.pop("gke", False) else {}), **changes})


def test_layer_arguments_keep_each_clouds_parts_apart() -> None:
    _args()
    _args(gke=True)
    with pytest.raises(ValueError, match="GKE scales node pools itself"):
        _args(gke=True, autoscaling=AwsAutoscaling("team", "us-west-2"))
    with pytest.raises(ValueError, match="EKS needs cluster-autoscaler"):
        _args(autoscaling=None)
    with pytest.raises(ValueError, match="EKS binds roles by Pod Identity, GKE by Workload Identity"):
        _args(gke=True, identity=PodIdentityBinding())


def test_labels_carry_the_team_tags_and_the_owner_is_an_annotation() -> None:
    tags = {"team": "ml", "cost-center": "CC:42/ml", "owner": "a@example.com", "managed-by": "teamstack"}
    labels = spec.object_labels(tags)
    assert labels["teamstack.io/team"] == "ml"
    assert labels["teamstack.io/cost-center"] == "CC_42_ml"
    assert "teamstack.io/owner" not in labels
    assert spec.object_annotations(tags) == {"teamstack.io/owner": "a@example.com"}
    assert spec.label_value("-x" * 40).startswith("x") and len(spec.label_value("a" * 99)) == 63
