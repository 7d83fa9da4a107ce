"""Reading resource properties that may not be known: preview-time unknowns and redacted secrets.

Under `pulumi preview` CrossGuard hands a policy the engine's unknown sentinels (e.g. an ARN that only exists
after creation); a saved JSON plan prints secrets as "[secret]". A rule cannot judge such a value, so it
must neither crash on it nor report it: `normalize` turns both into the single `UNKNOWN` marker, and rules
skip a condition whose value is `UNKNOWN`. `pulumi up` runs the pack again with the real values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

SECRET_PLACEHOLDER: Final = "[secret]"

# pulumi_policy.proxy's sentinels (copied so this pure module does not import the policy SDK).
_UNKNOWN_SENTINELS: Final = frozenset(
    {
        "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7",  # boolean
        "3eeb2bf0-c639-47a8-9e75-3b44932eb421",  # number
        "04da6b54-80e4-46f7-96ec-b56ff0331ba9",  # string
        "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2",  # array
        "030794c1-ac77-496b-92df-f27374a8bd58",  # asset
        "e48ece36-62e2-4504-bad9-02848725956a",  # archive
        "dd056dcd-154b-4c76-9bd3-c8f88648b5ff",  # object
    }
)


class _Unknown:
    """A value the policy cannot see yet (preview) or may not see (a secret)."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"

    def __bool__(self) -> bool:
        # Never truthy or falsy by accident: a rule must test `is UNKNOWN` before judging a value.
        raise TypeError("an unknown value has no truth value; test `is UNKNOWN` first")


UNKNOWN: Final = _Unknown()
UNKNOWN_SENTINELS: Final = _UNKNOWN_SENTINELS


def _unwrap_proxy(value: Any) -> Any:
    """pulumi_policy wraps props in proxies that raise on unknowns; they hand over their raw target."""
    if isinstance(value, Mapping) and not isinstance(value, dict):
        try:
            return value["__target"]
        except (KeyError, TypeError):
            return value
    if isinstance(value, Sequence) and not isinstance(value, list | tuple | str | bytes):
        try:
            return value["__target"]  # type: ignore[call-overload]
        except (KeyError, TypeError, IndexError):
            return value
    return value


def normalize(value: Any) -> Any:
    """Plain dicts/lists with every unknown sentinel and redacted secret replaced by `UNKNOWN`."""
    value = _unwrap_proxy(value)
    if isinstance(value, str):
        return UNKNOWN if value in _UNKNOWN_SENTINELS or value == SECRET_PLACEHOLDER else value
    if isinstance(value, Mapping):
        return {str(key): normalize(item) for key, item in dict(value).items()}
    if isinstance(value, list | tuple) or (isinstance(value, Sequence) and not isinstance(value, bytes)):
        return [normalize(item) for item in value]
    return value


def get(props: Any, path: str, default: Any = None) -> Any:
    """`props["a"]["b"][0]` for path "a.b.0": `default` where a key is absent, `UNKNOWN` below an unknown."""
    value = props
    for part in path.split("."):
        if value is UNKNOWN:
            return UNKNOWN
        if isinstance(value, dict):
            if part not in value:
                return default
            value = value[part]
        elif isinstance(value, list) and part.isdigit():
            index = int(part)
            if index >= len(value):
                return default
            value = value[index]
        else:
            return default
    return value


def is_known(value: Any) -> bool:
    return value is not UNKNOWN


def truthy(value: Any) -> bool | None:
    """A provider boolean (the AWS provider also takes "true"/"false" strings): True/False, None if unknown."""
    if value is UNKNOWN:
        return None
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


def as_list(value: Any) -> list[Any]:
    """A list input that may be a single value, absent (empty) or unknown ([UNKNOWN])."""
    if value is None:
        return []
    if value is UNKNOWN:
        return [UNKNOWN]
    if isinstance(value, list):
        return value
    return [value]
