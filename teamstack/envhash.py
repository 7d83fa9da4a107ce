"""The content hashes of the image pipeline: the one definition both sides use (standard library only).

* `recipe_hash(images/)` names the build recipe (Dockerfile, buildspec, helpers). The Pulumi program puts it
  in the CodeBuild project (RECIPE_HASH) and in the team manifest, so a change to the recipe yields new tags.
* `image_tag(recipe_hash, variant, spec)` is the image tag of one environment spec. The client uploads the
  spec to `spec_key(variant, tag, filename)`; the build recomputes the tag with `images/envtag.sh` (the
  same formula in coreutils, kept in step by tests/test_images.py) and refuses a spec stored under a tag that
  is not its own. Tags are immutable content hashes: an unchanged environment is never rebuilt.

A client must take the recipe hash from the team manifest, not compute it from its own checkout: only the
deployed recipe's hash matches the tags the build accepts.

The uploaded spec is always the normalised requirements.txt of teamstack.client.specs (every producer
normalises first, so the same file gets the same tag everywhere). Local packages travel as wheels uploaded
to `wheel_key(sha256, filename)` before the spec that names them by that hash.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

SPEC_FILENAMES = ("requirements.txt",)
VARIANTS = ("cpu", "gpu")
SPEC_PREFIX = "specs/"
RECIPE_HASH_LENGTH = 16
TAG_LENGTH = 32
TAG_DOMAIN = b"teamstack-env-v1\n"  # versions the tag formula: a new formula must change this line

_RECIPE_HASH_RE = re.compile(rf"[0-9a-f]{{{RECIPE_HASH_LENGTH}}}")
WHEEL_PREFIX = f"{SPEC_PREFIX}wheels/"
_WHEEL_RE = re.compile(r"[A-Za-z0-9_.+]+-[A-Za-z0-9_.+!-]+\.whl")
_SHA256_RE = re.compile(r"[0-9a-f]{64}")
_TAG_RE = re.compile(rf"[0-9a-f]{{{TAG_LENGTH}}}")
_IGNORED_DIRS = frozenset({"__pycache__"})
_IGNORED_SUFFIXES = (".pyc",)


def recipe_hash(images_dir: Path) -> str:
    """First 16 hex digits of a sha256 over every regular file under `images_dir`.

    Files are taken in order of their POSIX path relative to `images_dir`; each adds its relative path, NUL,
    its bytes, NUL. `__pycache__` folders and `*.pyc` files are ignored; file modes are not part of the hash.
    """
    root = Path(images_dir)
    if not root.is_dir():
        raise NotADirectoryError(f"recipe folder {root} does not exist or is not a directory")
    files: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [name for name in dirnames if name not in _IGNORED_DIRS]
        for name in filenames:
            path = Path(dirpath, name)
            if name.endswith(_IGNORED_SUFFIXES) or not path.is_file():
                continue
            files.append((path.relative_to(root).as_posix(), path))
    digest = hashlib.sha256()
    for relative, path in sorted(files):
        digest.update(relative.encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:RECIPE_HASH_LENGTH]


def _check_variant(variant: str) -> None:
    if variant not in VARIANTS:
        raise ValueError(f"unknown image variant {variant!r}: expected one of {', '.join(VARIANTS)}")


def _check_filename(filename: str) -> None:
    if filename not in SPEC_FILENAMES:
        raise ValueError(f"unsupported spec file name {filename!r}: expected one of {', '.join(SPEC_FILENAMES)}")


def _check_tag(tag: str) -> None:
    if not isinstance(tag, str) or not _TAG_RE.fullmatch(tag):
        raise ValueError(f"invalid image tag {tag!r}: expected {TAG_LENGTH} lowercase hex characters")


def image_tag(recipe_hash: str, variant: str, spec: bytes) -> str:
    """The image tag of `spec` (the spec file's exact bytes) built as `variant` by the recipe `recipe_hash`.

    sha256 over `teamstack-env-v1\\n<recipe_hash>\\n<variant>\\n<spec bytes>`, first 32 hex digits.
    """
    _check_variant(variant)
    if not isinstance(recipe_hash, str) or not _RECIPE_HASH_RE.fullmatch(recipe_hash):
        raise ValueError(f"invalid recipe hash {recipe_hash!r}: expected {RECIPE_HASH_LENGTH} lowercase hex characters")
    if not isinstance(spec, bytes | bytearray | memoryview):
        raise TypeError(f"spec must be the spec file's bytes, not {type(spec).__name__}")
    digest = hashlib.sha256(TAG_DOMAIN + recipe_hash.encode() + b"\n" + variant.encode() + b"\n")
    digest.update(spec)
    return digest.hexdigest()[:TAG_LENGTH]


def spec_key(variant: str, tag: str, filename: str) -> str:
    """The build-bucket key a spec is uploaded to: `specs/<variant>/<tag>/<filename>`."""
    _check_variant(variant)
    _check_tag(tag)
    _check_filename(filename)
    return f"{SPEC_PREFIX}{variant}/{tag}/{filename}"


def parse_spec_key(key: str) -> tuple[str, str, str]:
    """`specs/<variant>/<tag>/<filename>` -> (variant, tag, filename); ValueError says what is wrong."""
    expected = f"expected {SPEC_PREFIX}<{'|'.join(VARIANTS)}>/<{TAG_LENGTH} hex tag>/<{'|'.join(SPEC_FILENAMES)}>"
    if not isinstance(key, str):
        raise ValueError(f"spec key must be a string, not {type(key).__name__}")
    parts = key.split("/")
    if len(parts) != 4 or f"{parts[0]}/" != SPEC_PREFIX:
        raise ValueError(f"invalid spec key {key!r}: {expected}")
    _, variant, tag, filename = parts
    try:
        _check_variant(variant)
        _check_tag(tag)
        _check_filename(filename)
    except ValueError as error:
        raise ValueError(f"invalid spec key {key!r}: {error}") from None
    return variant, tag, filename


def wheel_key(sha256: str, filename: str) -> str:
    """The build-bucket key of a local package's wheel: `specs/wheels/<sha256>/<filename>` (content-addressed)."""
    if not _SHA256_RE.fullmatch(sha256):
        raise ValueError(f"invalid wheel sha256 {sha256!r}: expected 64 lowercase hex characters")
    if not _WHEEL_RE.fullmatch(filename):
        raise ValueError(f"invalid wheel file name {filename!r}")
    return f"{WHEEL_PREFIX}{sha256}/{filename}"
