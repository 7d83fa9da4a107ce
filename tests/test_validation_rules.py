"""The clouds' rules as pure functions: names, CIDRs, principals, capacity, strict YAML."""

from __future__ import annotations

import ipaddress
import time

import pytest

from teamstack.config import ConfigError
from teamstack.policy.config import parse_policy_config
from teamstack.validation import cidrs as cidr_rules
from teamstack.validation import limits, names, principals, shorten, yamlfile


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("ml-vision-raw-111122223333", True),
        ("a.b-c", True),
        ("ab", False),
        ("xn--team-raw-1", False),
        ("sthree-team", False),
        ("amzn-s3-demo-x", False),
        ("team-raw-s3alias", False),
        ("team--ol-s3", False),
        ("team.mrap", False),
        ("team--x-s3", False),
        ("a..b", False),
        ("192.168.5.4", False),
        ("Team-raw", False),
        ("team_raw", False),
        ("-team", False),
        ("a" * 64, False),
    ],
)
def test_s3_bucket_names(name: str, ok: bool) -> None:
    assert (names.s3_bucket_problem(name) is None) == ok


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("ml-geo-raw-ml-geo-prod", True),
        ("my_bucket.example", True),
        ("goog-team", False),
        ("team-google-raw", False),
        ("team-g00gle", False),
        ("team-go0gl3", False),
        ("a" * 64, False),
        ("10.1.2.3", False),
        ("ab", False),
    ],
)
def test_gcs_bucket_names(name: str, ok: bool) -> None:
    assert (names.gcs_bucket_problem(name) is None) == ok


@pytest.mark.parametrize(
    ("key", "ok"),
    [
        ("tier", True),
        ("teamstack.io/workload", True),
        ("a" * 63 + ".example.com/x", True),
        ("a" * 64 + ".example.com/x", False),
        (".".join(["b" * 60] * 4) + "/x", True),  # 243 characters
        (".".join(["b" * 60] * 5) + "/x", False),  # 304
        ("node.kubernetes.io/role", False),
        ("k8s.io/x", False),
        ("eks.amazonaws.com/x", False),
        ("cloud.google.com/gke-nodepool", False),
        ("Example.com/x", False),
        ("x/" + "n" * 64, False),
        ("/x", False),
    ],
)
def test_kubernetes_label_keys(key: str, ok: bool) -> None:
    assert (names.k8s_label_key_problem(key) is None) == ok


@pytest.mark.parametrize(
    ("name", "ok"),
    [("ml-vision", True), ("kube-system", False), ("kube-anything", False), ("default", False),
     ("dask-operator", False), ("ML", False), ("a" * 64, False)],
)  # fmt: skip
def test_namespaces(name: str, ok: bool) -> None:
    assert (names.namespace_problem(name, ("default", "kube-system", "dask-operator")) is None) == ok


@pytest.mark.parametrize(
    ("key", "value", "ok"),
    [
        ("project", "Vision Platform: 2026/Q1 +ml=@x_y.z-", True),
        ("projekt", "Bildverarbeitung ÄÖÜ", True),  # letters in any script
        ("project", "a#b", False),
        ("project", "a,b", False),
        ("aWs:x", "y", False),
        ("x", "AWS:y", False),
        ("", "y", False),
        ("k" * 129, "y", False),
        ("k", "v" * 257, False),
    ],
)
def test_aws_tags(key: str, value: str, ok: bool) -> None:
    assert (names.aws_tag_problem(key, value) is None) == ok


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("10.40.0.0/255.255.0.0", "write it as 10.40.0.0/16"),
        ("10.40.0.0/0.0.255.255", "write it as 10.40.0.0/16"),
        ("10.40.0.0", "bare address"),
        (" 10.40.0.0/16", "not an IPv4 CIDR"),
        ("10.40.0.1/16", "host bits set"),
        ("10.40.0.0/33", "not an IPv4 CIDR"),
        ("010.40.0.0/16", "not an IPv4 CIDR"),
        ("10.40.0.0/016", "not in CIDR notation"),
    ],
)
def test_cidr_text_is_canonical_or_refused(text: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=None) as raised:
        cidr_rules.parse(text)
    assert fragment in str(raised.value)


def test_canonical_cidrs_pass_and_never_routed_ranges_are_named() -> None:
    assert cidr_rules.parse("198.51.100.0/24") == ipaddress.IPv4Network("198.51.100.0/24")
    assert cidr_rules.never_routed(ipaddress.IPv4Network("198.51.100.0/24")) is None
    assert "multicast" in (cidr_rules.never_routed(ipaddress.IPv4Network("239.0.0.0/8")) or "")
    assert "never routed" in (cidr_rules.never_routed(ipaddress.IPv4Network("255.255.255.255/32")) or "")


@pytest.mark.parametrize(
    ("arn", "region", "fragment"),
    [
        ("arn:aws:iam::111122223333:role/sso/Team", "us-west-2", None),
        ("arn:aws:iam::111122223333:user/alice", "eu-central-1", None),
        ("arn:aws-cn:iam::111122223333:role/Team", "us-west-2", "partition aws-cn"),
        ("arn:aws:iam::111122223333:role/Team", "cn-north-1", "trusts only aws-cn ARNs"),
        ("arn:aws:iam::111122223333:role/sso/", "us-west-2", "names no role"),
        ("arn:aws:iam::111122223333:role/" + "n" * 65, "us-west-2", "names no role"),
        ("arn:aws:iam::111122223333:role//Team", "us-west-2", "invalid IAM path"),
        ("arn:aws:iam::1111:role/Team", "us-west-2", "not an IAM role or user ARN"),
    ],
)
def test_principal_arns(arn: str, region: str, fragment: str | None) -> None:
    problem = principals.arn_problem(arn, region)
    assert problem is None if fragment is None else fragment in (problem or ""), problem


def test_first_repeat() -> None:
    assert principals.first_repeat(["a", "b", "A"]) is None
    assert principals.first_repeat(["a", "b", "A"], case_insensitive=True) == 2


def test_allocatable_follows_the_documented_reservations() -> None:
    # CPU: 6% of the first core, 1% of the second, 0.5% of cores 3-4, 0.25% above: 4 vCPUs keep 3920m.
    assert limits.allocatable_cpu_millis(1) == 940
    assert limits.allocatable_cpu_millis(4) == 3920
    assert limits.allocatable_cpu_millis(16) == 15890
    # GKE memory: 25% of 4 GiB + 20% of 4 + 10% of 8 + 6% of the next 112; minus the 100 MiB eviction floor.
    assert limits.allocatable_memory_mib(16 * 1024, "gcp") == 16384 - (1024 + 819.2 + 819.2) // 1 - 100 - 1
    assert limits.allocatable_memory_mib(30 * 1024, "gcp") == int(
        30720 - (1024 + 819.2 + 819.2 + 14 * 1024 * 0.06) - 100
    )
    # EKS: 255 MiB + 11 MiB x 110 pods, then the eviction floor.
    assert limits.allocatable_memory_mib(16384, "aws") == 16384 - 255 - 1210 - 100


def test_pod_range_nodes() -> None:
    assert limits.pod_range_nodes(ipaddress.IPv4Network("10.64.0.0/14"), 24) == 1024
    assert limits.pod_range_nodes(ipaddress.IPv4Network("10.64.0.0/21"), 24) == 8
    assert limits.pod_range_nodes(ipaddress.IPv4Network("10.64.0.0/25"), 24) == 0


def test_shorten_keeps_both_ends() -> None:
    assert shorten("short") == "short"
    shown = shorten("a" * 1000 + "END")
    assert shown.startswith("aaa") and shown.endswith("END") and "(1003 characters)" in shown and len(shown) < 100


# --- strict YAML ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "where", "fragment"),
    [
        ("a: 1\nb: 2\na: 3\n", "line 3", "key 'a' appears twice in one mapping (first at line 1)"),
        ("a:\n  b: 1\n  c: 2\n  b: 3\n", "line 4", "key 'b' appears twice"),
        ("a: {x: 1, x: 2}\n", "line 1", "key 'x' appears twice"),
        ("a: &a [1]\nb: &b [*a]\nc: *b\n", "line 3", "nested aliases are refused"),
        ("x: &a [*a]\n", "line 1", "once aliases are expanded"),
        ("a: [\n", "line 2", "not valid YAML"),
        ("a: !!python/object:os.system x\n", "line 1", "not valid YAML"),
        ("- a\n---\n- b\n", "line 2", "not valid YAML"),
    ],
)
def test_strict_yaml_refuses_with_the_line(text: str, where: str, fragment: str) -> None:
    with pytest.raises(yamlfile.YamlRefused) as raised:
        yamlfile.load(text)
    assert raised.value.where == where and fragment in raised.value.reason, raised.value


def test_strict_yaml_keeps_what_yaml_allows() -> None:
    # Plain aliases and merge keys are YAML the engine reads too; a key repeated in different mappings is fine.
    text = "base: &b {k: 1}\nm:\n  <<: *b\n  j: 2\nl: &l [1, 2]\nn: *l\nx: {a: 1}\ny: {a: 2}\n"
    assert yamlfile.load(text) == {
        "base": {"k": 1}, "m": {"k": 1, "j": 2}, "l": [1, 2], "n": [1, 2], "x": {"a": 1}, "y": {"a": 2}
    }  # fmt: skip
    assert yamlfile.load("") is None


def test_an_alias_bomb_is_refused_at_once() -> None:
    levels = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"] + [
        f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)
    ]
    start = time.perf_counter()
    with pytest.raises(yamlfile.YamlRefused) as raised:
        yamlfile.load("\n".join(levels) + "\n")
    assert raised.value.where == "line 3" and "nested aliases" in raised.value.reason  # a2 -> a1 -> a0
    assert time.perf_counter() - start < 5  # a generous bound: unbounded expansion would take forever


def test_an_oversized_file_is_refused_before_parsing() -> None:
    with pytest.raises(yamlfile.YamlRefused) as raised:
        yamlfile.load("a: " + "x" * (yamlfile.MAX_BYTES + 1))
    assert raised.value.where == "-" and "at most 1048576 bytes" in raised.value.reason


# --- policy values: every entry against the real rule --------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "key", "fragment"),
    [
        ({"allowedInstanceTypes": ["m7i.large", "m7i.5xlarge"]}, "allowedInstanceTypes.1", "not an EC2 instance type"),
        ({"allowedMachineTypes": ["n2-standard-6"]}, "allowedMachineTypes.0", "not a Compute Engine machine type"),
        ({"allowedAccelerators": ["nvidia-l40"]}, "allowedAccelerators.0", "not a GKE NVIDIA accelerator"),
        ({"catalogBuckets": ["Raw"]}, "catalogBuckets.0", "not a DNS label"),
        ({"namespaces": ["team.a"]}, "namespaces.0", "not a DNS label"),
        ({"trustedPrincipals": ["arn:aws:iam::111122223333:role/sso/"]}, "trustedPrincipals.0", "names no role"),
        ({"maxGpus": True}, "maxGpus", "valid integer (got true)"),
        ({"monthlyCostCapUsd": "8000"}, "monthlyCostCapUsd", 'valid number (got "8000")'),
    ],
)
def test_policy_values_are_checked_entry_by_entry(data: dict[str, object], key: str, fragment: str) -> None:
    from teamstack.config import ConfigError
    from teamstack.policy.config import parse_policy_config

    with pytest.raises(ConfigError) as raised:
        parse_policy_config(data, "policies/teams/x.yaml")
    assert raised.value.key == key and fragment in raised.value.reason, str(raised.value)


@pytest.mark.parametrize(
    ("values", "key", "reason"),
    [
        ({"allowedInstanceTypes": ["g5.12xlage"]}, "allowedInstanceTypes.0", "did you mean g5.12xlarge?"),
        ({"allowedInstanceTypes": ["p3.8xlarge"]}, "allowedInstanceTypes.0", "EC2 retired the p3 family"),
        ({"allowedMachineTypes": ["c4d-standrad-8"]}, "allowedMachineTypes.0", "did you mean c4d-standard-8?"),
    ],
)
def test_policy_allow_lists_name_the_type_meant(values: dict[str, list[str]], key: str, reason: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_policy_config(values, "policies/teams/ml-geo.yaml")
    assert raised.value.key == key and reason in str(raised.value), str(raised.value)


def test_policy_allow_lists_take_the_newer_series() -> None:
    allowed = ["c4d-standard-8", "n4d-highmem-16", "g4-standard-48", "a3-ultragpu-8g"]
    config = parse_policy_config({"allowedMachineTypes": allowed, "allowedAccelerators": ["nvidia-h200-141gb"]}, "x")
    assert list(config.allowed_machine_types) == allowed
