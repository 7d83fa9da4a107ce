"""teamstack/imagefile.py: the image's environment as images/Containerfile declares it, read the builder's way.

The real image is built and the interpreter run in it by tests/test_image_build.py; here: the recipe writes its
venv path once, every step uses it, and the reader refuses what it does not understand with the file and line.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from teamstack import imagefile
from teamstack.imagefile import ContainerfileError, image_env, interpreter

IMAGES = Path(__file__).resolve().parent.parent / "images"
CONTAINERFILE = IMAGES / imagefile.CONTAINERFILE


def test_the_recipe_writes_its_venv_once_and_every_step_uses_it() -> None:
    text = CONTAINERFILE.read_text()
    venv = image_env(text)[imagefile.VENV_KEY]
    assert interpreter(IMAGES) == f"{venv}/bin/python"
    assert text.count(venv) == 1, "the venv path is written once: ENV VIRTUAL_ENV"
    assert re.search(r'uv venv [^\n]*"\$VIRTUAL_ENV"', text), "the venv is created where ENV says"
    installs = re.findall(r"uv pip install --python (\S+)", text)
    assert len(installs) == 4 and set(installs) == {'"$VIRTUAL_ENV/bin/python"'}
    assert '"$VIRTUAL_ENV/bin/python" /opt/teamstack/image_check.py' in text  # the build checks that interpreter


def test_values_see_earlier_instructions_only_as_the_builder_does() -> None:
    text = "FROM x\nENV A=1\nENV B=$A/b C=${A}c \\\n    # a comment inside the instruction\n    A=2 D=$A\nENV E=$A\n"
    assert image_env(text) == {"A": "2", "B": "1/b", "C": "1c", "D": "1", "E": "2"}
    assert image_env("FROM a\nENV A=1\nFROM b\nENV B=x$A\n") == {"B": "x"}  # only the final stage's ENV
    assert image_env('FROM a\nENV P="/a b" Q=${UNSET}\n') == {"P": "/a b", "Q": ""}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("FROM x\n\nENV VIRTUAL_ENV /opt/env\n", "Containerfile line 3: ENV takes KEY=value pairs, got 'VIRTUAL_ENV'"),
        ("FROM x\nENV A=${B:-/opt}\n", "Containerfile line 2: ${B:-/opt} is not a plain variable reference"),
        ("FROM x\nENV A='open\n", "Containerfile line 2: ENV cannot be read"),
    ],
)
def test_what_it_cannot_read_is_refused_with_the_line(text: str, message: str) -> None:
    with pytest.raises(ContainerfileError, match=re.escape(message)):
        image_env(text)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ("PATH=/usr/bin", "ENV VIRTUAL_ENV must be the image's venv as an absolute path, got ''"),
        ("VIRTUAL_ENV=opt/env PATH=/opt/env/bin", "ENV VIRTUAL_ENV must be the image's venv as an absolute path"),
        ("VIRTUAL_ENV=/opt/env PATH=/usr/bin:/opt/env/bin", "ENV PATH must start with /opt/env/bin"),
    ],
)
def test_an_interpreter_must_be_the_venv_first_on_path(tmp_path: Path, env: str, message: str) -> None:
    (tmp_path / imagefile.CONTAINERFILE).write_text(f"ARG BASE_IMAGE\nFROM ${{BASE_IMAGE}}\nENV {env}\n")
    with pytest.raises(ContainerfileError, match=re.escape(message)) as raised:
        interpreter(tmp_path)
    assert str(raised.value).startswith(str(tmp_path / imagefile.CONTAINERFILE))
