"""Names the target services accept, from their documented rules; each function returns None or the reason.

* S3 general purpose buckets: docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
* Cloud Storage buckets: cloud.google.com/storage/docs/buckets#naming
* Kubernetes label keys/values and namespaces: kubernetes.io/docs/concepts/overview/working-with-objects/labels,
  .../names (RFC 1123 DNS subdomains and labels), .../namespaces ("kube-" is reserved for Kubernetes)
* AWS tags (IAM, the strictest of the tagged services): docs.aws.amazon.com/IAM/latest/APIReference/API_Tag.html
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata

from teamstack.validation import shorten

_DNS_LABEL_63 = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\Z")
_S3_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\Z")
_S3_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_S3_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
_GCS_BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]\Z")
# "close misspellings of google" (the GCS naming rules): the letters o, l and e also as digits.
_GOOGLE_LIKE = re.compile(r"g[o0][o0]g[l1][e3]")


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def s3_bucket_problem(name: str) -> str | None:
    if not _S3_BUCKET.match(name):
        return (
            "S3 bucket names are 3-63 lowercase letters, digits, '.' and '-', starting and ending with a letter "
            "or digit"
        )
    if ".." in name or _is_ip(name):
        return "S3 bucket names have no '..' and are not IP addresses"
    for prefix in _S3_PREFIXES:
        if name.startswith(prefix):
            return f"S3 refuses bucket names starting with '{prefix}'"
    for suffix in _S3_SUFFIXES:
        if name.endswith(suffix):
            return f"S3 refuses bucket names ending with '{suffix}'"
    return None


def gcs_bucket_problem(name: str) -> str | None:
    if not _GCS_BUCKET.match(name):
        return (
            "Cloud Storage bucket names are 3-63 lowercase letters, digits, '-', '_' and '.', starting and "
            "ending with a letter or digit"
        )
    if "." not in name and len(name) > 63:
        return "Cloud Storage bucket names without dots are at most 63 characters"
    if any(not 1 <= len(part) <= 63 for part in name.split(".")) or _is_ip(name):
        return "Cloud Storage bucket names have dot-separated parts of 1-63 characters and are not IP addresses"
    if name.startswith("goog"):
        return "Cloud Storage refuses bucket names starting with 'goog'"
    if _GOOGLE_LIKE.search(name):
        return "Cloud Storage refuses bucket names containing 'google' or a close misspelling of it"
    return None


def dns_subdomain_problem(name: str) -> str | None:
    """RFC 1123 subdomain, as Kubernetes checks it: at most 253 characters, dot-separated labels of at most 63."""
    if not 1 <= len(name) <= 253:
        return f"a DNS subdomain is 1-253 characters, got {len(name)}"
    for part in name.split("."):
        if not _DNS_LABEL_63.match(part):
            return (
                f"'{shorten(part, 40)}' is not a DNS label (1-63 lowercase letters, digits and '-', starting and "
                "ending with a letter or digit)"
            )
    return None


_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?\Z")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?\Z")
# Label prefixes Kubernetes and EKS/GKE own; a node label under them is refused by the kubelet or the cloud.
RESERVED_LABEL_DOMAINS = ("kubernetes.io", "k8s.io", "eks.amazonaws.com", "cloud.google.com", "gke.io")


def k8s_label_key_problem(key: str) -> str | None:
    prefix, slash, name = key.rpartition("/")
    if not _LABEL_NAME.match(name):
        return (
            f"'{shorten(key)}' is not a Kubernetes label key: the name after any '/' is 1-63 letters, digits, "
            "'-', '_' and '.', starting and ending with a letter or digit"
        )
    if slash:
        problem = dns_subdomain_problem(prefix)
        if problem is not None:
            return f"the label key prefix is not a DNS subdomain: {problem}"
    if any(prefix == domain or prefix.endswith("." + domain) for domain in RESERVED_LABEL_DOMAINS):
        reserved = ", ".join(RESERVED_LABEL_DOMAINS)
        return f"'{shorten(key)}' uses a prefix reserved for Kubernetes and the clouds ({reserved})"
    return None


def k8s_label_value_problem(value: str) -> str | None:
    if _LABEL_VALUE.match(value):
        return None
    return f"'{shorten(value)}' is not a Kubernetes label value (up to 63 letters, digits, '-', '_', '.')"


def namespace_problem(name: str, reserved: tuple[str, ...]) -> str | None:
    """A team namespace: an RFC 1123 label, not `kube-*` (Kubernetes's own), not one the platform uses."""
    if not _DNS_LABEL_63.match(name):
        return f"'{shorten(name)}' is not a namespace name (1-63 lowercase letters, digits and '-')"
    if name.startswith("kube-") or name in reserved:
        return (
            f"'{name}' is reserved: 'kube-*' belongs to Kubernetes and the platform runs in "
            f"{', '.join(reserved)}; the team's RoleBinding, quota and PSA labels would land there"
        )
    return None


def _tag_chars_ok(text: str) -> bool:
    # IAM's pattern [\p{L}\p{Z}\p{N}_.:/=+\-@]*: letters, separators (spaces), numbers and _ . : / = + - @.
    return all(unicodedata.category(c)[0] in "LZN" or c in "_.:/=+-@" for c in text)


def aws_tag_problem(key: str, value: str) -> str | None:
    if not 1 <= len(key) <= 128 or len(value) > 256:
        return "AWS tag keys are 1-128 characters, values at most 256"
    if key.lower().startswith("aws:") or value.lower().startswith("aws:"):
        return "the 'aws:' prefix (in any letter case) is reserved for AWS, in keys and values"
    if not (_tag_chars_ok(key) and _tag_chars_ok(value)):
        return (
            f"AWS tags (IAM's rule, the strictest of the tagged services) allow letters, digits, spaces and "
            f"_ . : / = + - @ only (got '{shorten(key, 40)}': '{shorten(value, 40)}')"
        )
    return None
