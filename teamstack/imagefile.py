"""What the image recipe's Containerfile gives every container of its images, read from the file itself.

`images/Containerfile` is the one owner of the image's layout: `ENV VIRTUAL_ENV` is the venv every build creates
and installs into (its RUN steps use `$VIRTUAL_ENV`) and puts first on PATH. Whoever runs a program of the image by
absolute path (the reaper CronJob of components/k8s) takes the interpreter from `interpreter(recipe_dir)`, never
from a copy: a change of the layout then moves both sides at once (tests/test_image_build.py runs the result in a
really built image).

Only what this file uses is understood: ENV instructions (`KEY=value` pairs, with `$KEY`/`${KEY}` of earlier
ENV lines substituted, as the builder does), line continuations and comments. Anything else in an ENV line is
refused with the line number rather than guessed.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

CONTAINERFILE = "Containerfile"
VENV_KEY = "VIRTUAL_ENV"

_VARIABLE = re.compile(r"\$(?:\{(?P<braced>[^}]*)\}|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))")
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class ContainerfileError(ValueError):
    """The Containerfile does not say what the platform needs (one line: the file, the line, what is wrong)."""


def _instructions(text: str) -> list[tuple[int, str, str]]:
    """(line number, INSTRUCTION, arguments) with continuations joined and comment lines dropped."""
    found: list[tuple[int, str, str]] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):  # a comment inside a continued instruction is dropped too
            continue
        if not pending:
            start = number
        if line.endswith("\\"):
            pending.append(line[:-1])
            continue
        pending.append(line)
        keyword, _, arguments = " ".join(pending).strip().partition(" ")
        found.append((start, keyword.upper(), arguments.strip()))
        pending = []
    return found


def _substitute(value: str, env: dict[str, str], where: str) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group("braced") if match.group("braced") is not None else match.group("bare")
        if not _KEY.fullmatch(name):
            raise ContainerfileError(f"{where}: ${{{name}}} is not a plain variable reference (only $KEY or ${{KEY}})")
        return env.get(name, "")

    return _VARIABLE.sub(replace, value)


def image_env(text: str, source: str = CONTAINERFILE) -> dict[str, str]:
    """The environment the final stage's ENV instructions give its containers, in the builder's terms: each
    instruction's values are substituted with what the earlier ones set."""
    env: dict[str, str] = {}
    for number, keyword, arguments in _instructions(text):
        if keyword == "FROM":
            env = {}  # a new stage starts from its base's environment (not this file's business)
        if keyword != "ENV":
            continue
        where = f"{source} line {number}"
        try:
            words = shlex.split(arguments, comments=False, posix=True)
        except ValueError as error:
            raise ContainerfileError(f"{where}: ENV cannot be read ({error})") from None
        updates: dict[str, str] = {}
        for word in words:
            key, equals, value = word.partition("=")
            if not equals or not _KEY.fullmatch(key):
                raise ContainerfileError(f"{where}: ENV takes KEY=value pairs, got {word!r}")
            updates[key] = _substitute(value, env, where)
        env.update(updates)
    return env


def interpreter(recipe_dir: Path) -> str:
    """The Python every image of the recipe runs: `$VIRTUAL_ENV/bin/python`, the venv first on the image's PATH."""
    path = Path(recipe_dir) / CONTAINERFILE
    env = image_env(path.read_text(encoding="utf-8"), str(path))
    venv = env.get(VENV_KEY, "")
    if not venv.startswith("/"):
        raise ContainerfileError(f"{path}: ENV {VENV_KEY} must be the image's venv as an absolute path, got {venv!r}")
    bin_dir = f"{venv.rstrip('/')}/bin"
    if env.get("PATH", "").split(":")[0] != bin_dir:
        raise ContainerfileError(f"{path}: ENV PATH must start with {bin_dir} (the venv's programs come first)")
    return f"{bin_dir}/python"
