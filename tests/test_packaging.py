"""The wheel: it carries the grammar, templates and spec library, and works installed from any directory.

In the checkout the package reaches `grammars/`, `templates/` and `specs/` through symlinks
inside `inceptgen/`; the wheel must hold real files there.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

import inceptgen
from inceptgen.emit.render import HEADER_MARK

ROOT = Path(__file__).resolve().parents[1]

#: the stdlib spec the installed command compiles (issue 2's acceptance test)
STDLIB_SPEC = "inception_v3"

#: resource folders in the checkout -> where the wheel must hold them
RESOURCES = {"grammars": "inceptgen/grammars", "templates": "inceptgen/templates", "specs": "inceptgen/specs"}


def _clean_env() -> dict[str, str]:
    """The environment without anything that would let the checkout leak into the installed package."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSAFEPATH")}


def build_wheel(out: Path) -> Path:
    done = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        env=_clean_env(),
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (built,) = out.glob("inceptgen-*.whl")
    return built


@pytest.mark.slow
def test_wheel_carries_resources_and_works_installed(tmp_path: Path) -> None:
    """One wheel build (a few seconds) serves both checks, so parallel workers never build it twice."""
    wheel = build_wheel(tmp_path / "dist")
    check_resources_are_real_files(wheel)
    check_installed_wheel_compiles_from_outside_the_checkout(wheel, tmp_path)


def check_resources_are_real_files(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        infos = {info.filename: info for info in zf.infolist()}
        for folder, target in RESOURCES.items():
            files = [p for p in (ROOT / folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts]
            assert files, f"{folder}/ is empty"
            for path in files:
                name = f"{target}/{path.relative_to(ROOT / folder).as_posix()}"
                assert name in infos, f"{name} missing from the wheel"
                assert not stat.S_ISLNK(infos[name].external_attr >> 16), f"{name} is a symlink in the wheel"
                assert zf.read(name) == path.read_bytes(), f"{name} differs from {folder}/"
        for required in ("inceptgen/grammars/incept.lark", "inceptgen/templates/torch/module.py.j2"):
            assert required in infos
        assert any(n.startswith("inceptgen/specs/") and n.endswith(".incept") for n in infos)
        assert "inceptgen/cli/__init__.py" in infos
        (entry_points,) = [n for n in infos if n.endswith(".dist-info/entry_points.txt")]
        assert "inceptgen = inceptgen.cli:main" in zf.read(entry_points).decode()


def check_installed_wheel_compiles_from_outside_the_checkout(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    # Not --system-site-packages: from inside the README's .venv that would show the *base*
    # interpreter's packages (no lark there). The new venv sees this interpreter's installed
    # packages through a .pth line instead, after its own site-packages, where the wheel goes;
    # the editable install's own .pth is not processed there, so the checkout cannot leak in.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python, command = venv / "bin" / "python", venv / "bin" / "inceptgen"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    Path(site, "outer_environment.pth").write_text("\n".join(sorted(ours)) + "\n", encoding="utf-8")
    env, work = _clean_env(), tmp_path / "elsewhere"
    work.mkdir()
    install = subprocess.run(  # this interpreter's pip, installing into the venv (faster than a pip of its own)
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)],
        capture_output=True,
        text=True,
        env=env,
        cwd=work,
    )
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]

    where = subprocess.run(
        [str(python), "-c", "import inceptgen; print(inceptgen.__file__)"],
        capture_output=True,
        text=True,
        env=env,
        cwd=work,
        check=True,
    )
    assert Path(where.stdout.strip()).resolve().is_relative_to(venv.resolve()), (
        f"imported {where.stdout.strip()}, not the wheel"
    )

    out = tmp_path / "x.py"
    done = subprocess.run(
        [str(command), "compile", f"@{STDLIB_SPEC}", "--target", "torch", "-o", str(out)],
        capture_output=True,
        text=True,
        env=env,
        cwd=work,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    text = out.read_text(encoding="utf-8")
    assert text.startswith(HEADER_MARK)
    assert text == inceptgen.load(f"@{STDLIB_SPEC}").source("torch")  # same templates and spec as the checkout
    compile(text, str(out), "exec")
    check_the_other_commands_work_installed(command, env, work)


#: (arguments, a file the command must write) for the commands beyond compile, run from the wheel
#: with the extras of this environment: the spec library, imports of the block libraries, the
#: formatter, the diagrams (Graphviz), the ONNX export and the language server's entry point.
INSTALLED_COMMANDS = [
    (["check", "{work}/uses_lib.incept"], None),
    (["fmt", "--check", "{work}/uses_lib.incept"], None),
    (["diagram", "@naive_module", "-o", "{work}/naive.svg"], "naive.svg"),
    (["export", "{work}/uses_lib.incept", "--format", "onnx", "-o", "{work}/tiny.onnx"], "tiny.onnx"),
    (["lsp", "--help"], None),
]


def check_the_other_commands_work_installed(command: Path, env: dict[str, str], work: Path) -> None:
    (work / "uses_lib.incept").write_text(
        'import "@lib/resnet_blocks"\n\nmodel tiny(classes = 3, input = 3x16x16)\n\n'
        "stage s { basic(8) }\nhead { global_avgpool; linear -> classes }\n",
        encoding="utf-8",
    )
    for args, written in INSTALLED_COMMANDS:
        done = subprocess.run(
            [str(command), *(a.format(work=work) for a in args)], capture_output=True, text=True, env=env, cwd=work
        )
        assert done.returncode == 0, (args, done.stderr[-3000:])
        if written is not None:
            assert (work / written).stat().st_size > 0, args
