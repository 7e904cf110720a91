"""The command line: exit codes, error rendering, --set, summary JSON, safe outputs, runtime commands' plumbing.

The runtime commands (parity, convert, train, evaluate) are exercised here only for
their argument handling, against test doubles placed in `sys.modules`; their real
behaviour is tested with the runtime modules themselves.
"""

from __future__ import annotations

import importlib.machinery
import json
import os
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest
from typer.testing import CliRunner

import inceptgen
from inceptgen import cli, output
from inceptgen.emit.render import HEADER_MARK
from inceptgen.errors import InceptgenError, Span
from inceptgen.stdlib import list_specs
from inceptgen.targets import TARGET_NAMES as TARGETS

ROOT = Path(__file__).resolve().parents[1]

GOOD = """\
# A tiny two-branch net for the CLI tests
model tiny(classes = 10, input = 3x16x16)
defaults { conv: bn, relu, nobias }
block mix(c) {
  concat {
    branch { conv 1x1 -> c }
    branch { conv 1x1 -> c // 2; conv 3x3 -> c }
  }
}
block unused() { relu }
stage s { conv 3x3 -> 8; mix(8); maxpool 2x2 }
head { global_avgpool; linear -> classes }
"""
UNUSED_AT = (10, 1)  # line, column of `block unused`

#: name -> (spec text, line, column) of the error it must report
BAD = {
    "unknown_layer": ("model m(input = 3x8x8)\nstage s {\n  conv 3x3 -> 4\n  cnov 3x3 -> 4\n}\n", 4, 3),
    "syntax": ("model m(input = 3x8x8)\nstage s { conv 3x3 -> 4 ) }\n", 2, 25),
    "tab_indent": ("model m(input = 3x8x8)\nstage s {\n\tconv 3x3 -> 4 strid 2\n}\n", 3, 16),
    "concat_shape": (
        "model m(input = 3x8x8)\nstage s { concat { branch { conv 3x3 -> 4 stride 2 } branch { conv 1x1 -> 4 } } }\n",
        2,
        11,
    ),
}

runner = CliRunner()


def invoke(*args: object, app=None):
    return runner.invoke(app or cli.app, [str(a) for a in args])


@pytest.fixture
def good(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.incept"
    path.write_text(GOOD)
    return path


def write_bad(tmp_path: Path, name: str) -> tuple[Path, int, int]:
    text, line, col = BAD[name]
    path = tmp_path / f"{name}.incept"
    path.write_text(text)
    return path, line, col


# --------------------------------------------------------------------------- exit codes


@pytest.mark.parametrize(
    ("args", "code", "stream", "needle"),
    [
        (["check", "{good}"], 0, "stdout", "ok: {good}: tiny"),
        (["check", "{good}", "--set", "classes=3"], 0, "stdout", "output 3"),
        (["check", "{good}", "--set", "classes=3", "--set", "input=3x32x32"], 0, "stdout", "output 3"),
        (["check", "{good}", "--set", "classes"], 2, "stderr", "--set expects name=value"),
        (["check", "{good}", "--set", "classes=)"], 2, "stderr", "--set 'classes=)'"),
        (["check", "{good}", "--set", "classes="], 2, "stderr", "--set classes= has no value"),  # 0.1: "unexpected ')'"
        (["check", "{good}", "--set", "classes=3, input=3x8x8"], 2, "stderr", "expected one value"),  # 0.1 took both
        (["parity", "--help"], 0, "stdout", "relative"),  # 0.1 called --tol absolute
        (["check", "@efficientnet_b0", "--variant", "b1"], 0, "stdout", "7,794,184 parameters"),
        (["check", "@efficientnet_b0", "--variant", "b9"], 2, "stderr", "no variant 'b9'"),
        (["check", "@resnet18", "--variant", "b1"], 2, "stderr", "variants: none"),
        (["check", "{good}", "--set", "nonesuch=1"], 2, "stderr", "no parameter 'nonesuch'"),
        (["check", "{good}", "--set", "input=3x1x1"], 2, "stderr", "error:"),
        (["check", "{missing}"], 2, "stderr", "cannot read spec"),
        (["check", "{tmp}"], 2, "stderr", "error: cannot read spec '{tmp}': a directory"),
        (["check", "@no_such_spec"], 2, "stderr", "no spec named @no_such_spec"),
        (["check"], 2, "stderr", "Missing argument"),
        (["check", "{good}", "--bogus"], 2, "stderr", "No such option"),
        (["frobnicate"], 2, "stderr", "No such command"),
        (["compile", "{good}"], 2, "stderr", "Missing option"),
        (["compile", "{good}", "--target", "tf"], 2, "stderr", "'tf'"),
        (["summary", "{good}", "--format", "xml"], 2, "stderr", "'xml'"),
        (["--version"], 0, "stdout", f"inceptgen {inceptgen.__version__}"),
        (["--help"], 0, "stdout", "compile"),
    ],
)
def test_exit_codes(tmp_path: Path, good: Path, args: list[str], code: int, stream: str, needle: str) -> None:
    fill = {"good": good, "missing": tmp_path / "missing.incept", "tmp": tmp_path}
    result = invoke(*[a.format(**fill) for a in args])
    assert result.exit_code == code, result.output
    assert needle.format(**fill) in getattr(result, stream)
    assert "Traceback" not in result.output


@pytest.mark.parametrize("name", ["limits", "overrides", "path_or_text"])
def test_set_reaches_parameters_named_like_load_arguments(tmp_path: Path, name: str) -> None:
    """`--set` names are the spec's, never the keyword arguments of `inceptgen.load`."""
    path = tmp_path / "named.incept"
    path.write_text(f"model named(input = 3x8x8, {name} = 4)\nstage s {{ conv 1x1 -> {name} }}\n")
    result = invoke("check", path, "--set", f"{name}=6")
    assert result.exit_code == 0, result.output
    assert "output 6x8x8" in result.stdout
    assert inceptgen.load(path, overrides={name: 5}).checked.outputs["main"] == (5, 8, 8)


#: arguments -> the command a run builds its one-command application for (None: the whole app)
NAMED_COMMANDS = [
    (["check", "x.incept"], "check"),
    (["--debug", "compile", "@inception_v3"], "compile"),
    (["--debug"], None),
    (["--help"], None),
    (["--version"], None),
    (["chek", "x.incept"], None),  # a typo: the whole app, which suggests the command
    ([], None),
]


@pytest.mark.parametrize(("argv", "command"), NAMED_COMMANDS)
def test_a_run_builds_only_the_command_it_names(argv: list[str], command: str | None) -> None:
    assert cli.named_command(argv) == command


@pytest.mark.parametrize("command", [name for name, _, _ in cli._COMMANDS])
def test_a_one_command_app_holds_that_command_alone(calls: list, command: str) -> None:
    app = cli.build_app(only=command)
    assert [info.name for info in app.registered_commands] == [command]
    result = invoke(command, "--help", app=app)
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("command", ["check", "summary", "compile", "specs", "parity", "convert", "train", "evaluate"])
def test_help_has_an_example(calls: list, command: str) -> None:
    result = invoke(command, "--help", app=cli.build_app())
    assert result.exit_code == 0, result.output
    assert "Example: inceptgen " + command in " ".join(result.stdout.split())


def test_parity_help_gives_run_parity_s_own_default_batch() -> None:
    """The CLI passes no batch unless given one, so the help must say what run_parity uses."""
    import inspect

    import typer.main

    from inceptgen.runtime.parity import run_parity

    command = typer.main.get_command(cli.build_app(only="parity")).commands["parity"]
    (batch,) = [param for param in command.params if "--batch" in param.opts]
    stated = re.search(r"\(default: (\d+)\)", batch.help)
    assert stated, batch.help
    assert int(stated.group(1)) == inspect.signature(run_parity).parameters["batch"].default


# --------------------------------------------------------------------------- errors and warnings


@pytest.mark.parametrize("name", sorted(BAD))
def test_error_shows_position_line_and_caret(tmp_path: Path, name: str) -> None:
    path, line, col = write_bad(tmp_path, name)
    result = invoke("check", path)
    assert result.exit_code == 2
    first, shown, caret, *_ = result.stderr.splitlines()
    assert first.startswith(f"{path}:{line}:{col}: error: ")
    source_line = BAD[name][0].split("\n")[line - 1]
    assert shown == "  " + source_line
    # the caret sits under column `col`, tabs kept so it lines up in any terminal
    assert caret.lstrip(" \t").startswith("^")
    assert caret[2:].index("^") == col - 1
    assert caret[2 : 2 + col - 1] == "".join("\t" if ch == "\t" else " " for ch in source_line[: col - 1])
    assert result.stdout == ""
    assert "Traceback" not in result.output


#: every command that reads a spec, with the arguments it needs besides SPEC (`{tmp}`: a folder)
SPEC_COMMANDS = {
    "check": [],
    "summary": [],
    "summary --format json": ["--format", "json"],
    "compile": ["--target", "torch", "-o", "{tmp}/out.py"],
    "diagram": ["-o", "{tmp}/out.svg"],
}

#: bad input -> (SPEC, extra arguments, what the first line of stderr starts with)
BAD_SPEC_INPUTS = {
    "a spec error": ("{bad}", [], "{bad}:4:3: error: "),
    "a missing file": ("{tmp}/missing.incept", [], "error: cannot read spec"),
    "a folder": ("{tmp}", [], "error: cannot read spec '{tmp}': a directory"),
    "an unknown @name": ("@no_such_spec", [], "error: no spec named @no_such_spec"),
    "a --set of no parameter": ("{good}", ["--set", "nonesuch=1"], "error: "),
    "a --set that does not parse": ("{good}", ["--set", "classes=)"], "error: --set 'classes=)'"),
    "a --set of two values": ("{good}", ["--set", "classes=3, input=3x8x8"], "error: --set"),
    "an input too small": ("{good}", ["--set", "input=3x1x1"], "{good}:"),
    "an unknown --variant": ("@efficientnet_b0", ["--variant", "b9"], "error: "),
}


@pytest.mark.parametrize("bad_input", BAD_SPEC_INPUTS, ids=str)
@pytest.mark.parametrize("command", SPEC_COMMANDS, ids=str)
def test_every_spec_command_reports_bad_input_in_one_error(
    tmp_path: Path, good: Path, command: str, bad_input: str
) -> None:
    """Exit 2, the error first on stderr (then its source line, caret and hint), nothing on stdout, no file written."""
    bad, _, _ = write_bad(tmp_path, "unknown_layer")
    fill = {"good": good, "bad": bad, "tmp": tmp_path}
    spec, extra, first = BAD_SPEC_INPUTS[bad_input]
    args = [command.split()[0], spec, *SPEC_COMMANDS[command], *extra]
    result = invoke(*[a.format(**fill) for a in args])
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert lines[0].startswith(first.format(**fill)), result.stderr
    assert all(not line.startswith(("error", "warning")) for line in lines[1:]), result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.output
    assert not list(tmp_path.glob("out*"))


def test_warning_for_unused_block(good: Path) -> None:
    result = invoke("check", good)
    assert result.exit_code == 0
    line, col = UNUSED_AT
    assert f"{good}:{line}:{col}: warning: " in result.stderr
    assert "unused" in result.stderr
    assert result.stdout.startswith("ok: ")


def test_debug_shows_traceback(tmp_path: Path) -> None:
    path, _, _ = write_bad(tmp_path, "unknown_layer")
    plain = invoke("check", path)
    debug = invoke("--debug", "check", path)
    assert plain.exit_code == debug.exit_code == 2
    assert "Traceback" not in plain.stderr
    assert "Traceback" in debug.stderr
    assert plain.stderr.splitlines()[0] in debug.stderr


def test_internal_error_is_one_message(monkeypatch: pytest.MonkeyPatch, good: Path) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("inceptgen.api.load", broken)
    result = invoke("check", good)
    assert result.exit_code == cli.EXIT_BUG
    assert "internal error: RuntimeError: boom" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "err",
    [
        MemoryError(),
        RuntimeError(
            "[enforce fail at alloc_cpu.cpp:118] DefaultCPUAllocator: not enough memory: you tried to allocate"
        ),
        type("ResourceExhaustedError", (Exception,), {})("OOM when allocating tensor with shape[1,64,4000,4000]"),
    ],
    ids=["MemoryError", "torch CPU allocator", "tensorflow"],
)
def test_running_out_of_memory_is_a_user_error(monkeypatch: pytest.MonkeyPatch, good: Path, err: Exception) -> None:
    """A model too large for the machine at the input size asked for (`parity` at 3x4000x4000) is not a bug."""

    def too_large(*args, **kwargs):
        raise err

    monkeypatch.setattr("inceptgen.api.load", too_large)
    result = invoke("check", good)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: out of memory")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("err", "expected"),
    [
        (InceptgenError("no span"), ["error: no span"]),
        (InceptgenError("with hint", hint="try this"), ["error: with hint", "  hint: try this"]),
        (
            InceptgenError("gone", Span("/nonexistent/x.incept", 3, 4), "h"),
            ["/nonexistent/x.incept:3:4: error: gone", "  hint: h"],
        ),
        (InceptgenError("in memory", Span("<spec>", 1, 2)), ["<spec>:1:2: error: in memory"]),
    ],
)
def test_render_error_without_source(err: InceptgenError, expected: list[str]) -> None:
    assert cli.render_error(err).splitlines() == expected


@pytest.mark.parametrize(
    ("text", "span", "shown", "caret"),
    [
        ("abc def\n", (1, 5, 1, 8), "abc def", "    ^~~"),
        ("abc\r\nxy z\r\n", (2, 4, None, None), "xy z", "   ^"),  # CRLF
        ("\ufeffab\n", (1, 2, None, None), "ab", " ^"),  # BOM
        ("ab\n", (1, 9, None, None), "ab", "  ^"),  # column past the end
        ("a\tb\n", (1, 3, 1, 4), "a\tb", " \t^"),
    ],
)
def test_render_error_caret(tmp_path: Path, text: str, span: tuple, shown: str, caret: str) -> None:
    path = tmp_path / "s.incept"
    path.write_bytes(text.encode())
    lines = cli.render_error(InceptgenError("m", Span(str(path), *span))).splitlines()
    assert lines[1:] == ["  " + shown, "  " + caret]


def test_render_error_long_line_is_windowed(tmp_path: Path) -> None:
    path = tmp_path / "long.incept"
    path.write_text("x" * 100_000 + "BAD" + "y" * 100_000)
    lines = cli.render_error(InceptgenError("m", Span(str(path), 1, 100_001, 1, 100_004))).splitlines()
    assert len(lines[1]) < 200
    assert lines[1][lines[2].index("^") : lines[2].index("^") + 3] == "BAD"
    assert lines[2].strip() == "^~~"


# --------------------------------------------------------------------------- summary


def test_summary_json(good: Path) -> None:
    result = invoke("summary", good, "--format", "json", "--set", "classes=7")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert {"total_params", "trainable_params", "keras_params", "macs", "nodes"} <= doc.keys()
    assert doc["outputs"]["main"] == [7]
    assert doc == inceptgen.load(good, classes=7).summary()
    for node in doc["nodes"]:
        assert {"path", "op", "out_shape", "params", "macs"} <= node.keys()


def test_summary_table(good: Path) -> None:
    result = invoke("summary", good)
    assert result.exit_code == 0, result.output
    spec = inceptgen.load(good)
    for node in spec.summary()["nodes"]:
        assert node["path"] in result.stdout
    assert f"{spec.checked.total_params:,}" in result.stdout
    assert f"{spec.checked.macs:,}" in result.stdout
    for label in ("total params", "trainable params", "Keras count_params()", "MACs"):
        assert label in result.stdout


# --------------------------------------------------------------------------- compile and safe outputs


@pytest.mark.parametrize("target", TARGETS)
def test_compile_to_stdout_and_file(tmp_path: Path, good: Path, target: str) -> None:
    to_stdout = invoke("compile", good, "--target", target)
    assert to_stdout.exit_code == 0, to_stdout.output
    assert to_stdout.stdout == inceptgen.load(good).source(target)
    assert to_stdout.stdout.startswith(HEADER_MARK)
    out = tmp_path / "model.py"
    to_file = invoke("compile", good, "-t", target, "-o", out)
    assert to_file.exit_code == 0, to_file.output
    assert out.read_text() == to_stdout.stdout
    assert to_file.stdout == ""
    assert f"wrote {out}" in to_file.stderr


def test_compile_set_reaches_the_source(good: Path) -> None:
    plain = invoke("compile", good, "-t", "torch").stdout
    changed = invoke("compile", good, "-t", "torch", "--set", "classes=3").stdout
    assert changed == inceptgen.load(good, classes=3).source("torch")
    assert changed != plain


@pytest.mark.parametrize("target", ["torch", "keras"])
def test_compile_optimize_flag(good: Path, target: str) -> None:
    result = invoke("compile", good, "-t", target, "--optimize")
    assert result.exit_code == 0, result.output
    assert result.stdout == inceptgen.load(good).source(target, optimize=True)
    assert result.stdout != inceptgen.load(good).source(target)


def test_overwrites_generated_file(tmp_path: Path, good: Path) -> None:
    out = tmp_path / "model.py"
    assert invoke("compile", good, "-t", "torch", "-o", out).exit_code == 0
    result = invoke("compile", good, "-t", "torch", "-o", out, "--set", "classes=3")
    assert result.exit_code == 0, result.output
    assert out.read_text() == inceptgen.load(good, classes=3).source("torch")


@pytest.mark.parametrize("old", ["import os  # my own code\n", "x = 1\n" + HEADER_MARK + "\n"])
def test_refuses_to_overwrite_foreign_file(tmp_path: Path, good: Path, old: str) -> None:
    out = tmp_path / "model.py"
    out.write_text(old)
    refused = invoke("compile", good, "-t", "torch", "-o", out)
    assert refused.exit_code == 2
    assert "refusing to overwrite" in refused.stderr
    assert "--force" in refused.stderr
    assert out.read_text() == old
    forced = invoke("compile", good, "-t", "torch", "-o", out, "--force")
    assert forced.exit_code == 0, forced.output
    assert out.read_text().startswith(HEADER_MARK)


def test_overwrites_empty_file(tmp_path: Path, good: Path) -> None:
    out = tmp_path / "model.py"
    out.touch()
    assert invoke("compile", good, "-t", "torch", "-o", out).exit_code == 0
    assert out.read_text().startswith(HEADER_MARK)


def test_spec_error_keeps_old_output(tmp_path: Path, good: Path) -> None:
    out = tmp_path / "model.py"
    assert invoke("compile", good, "-t", "torch", "-o", out).exit_code == 0
    before = out.read_bytes()
    bad, _, _ = write_bad(tmp_path, "unknown_layer")
    assert invoke("compile", bad, "-t", "torch", "-o", out).exit_code == 2
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["model.py", "tiny.incept", bad.name])


@pytest.mark.parametrize(
    ("where", "exc"),
    [("os.fsync", OSError(28, "No space left on device")), ("os.replace", OSError(13, "denied"))],
)
def test_failed_write_keeps_old_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, where: str, exc: OSError) -> None:
    out = tmp_path / "model.py"
    old = HEADER_MARK + " old\n"
    out.write_text(old)

    def fail(*args, **kwargs):
        raise exc

    monkeypatch.setattr(where, fail)
    with pytest.raises((InceptgenError, OSError)):
        output.write_generated(out, HEADER_MARK + " new\n" + "x = 1\n" * 10_000)
    assert out.read_text() == old
    assert [p.name for p in tmp_path.iterdir()] == ["model.py"]  # no temporary file left


def test_interrupted_write_keeps_old_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    out = tmp_path / "model.py"
    out.write_text(HEADER_MARK + " old\n")

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("os.replace", interrupt)
    with pytest.raises(KeyboardInterrupt):
        output.write_generated(out, HEADER_MARK + " new\n")
    assert out.read_text() == HEADER_MARK + " old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["model.py"]


def test_write_keeps_mode_and_symlink(tmp_path: Path) -> None:
    real = tmp_path / "real.py"
    real.write_text(HEADER_MARK + "\n")
    real.chmod(0o640)
    link = tmp_path / "link.py"
    link.symlink_to(real)
    output.write_generated(link, HEADER_MARK + " new\n")
    assert link.is_symlink()
    assert real.read_text() == HEADER_MARK + " new\n"
    assert real.stat().st_mode & 0o777 == 0o640


@pytest.mark.parametrize("target", ["{tmp}/no/such/dir/x.py", "{tmp}"])
def test_unwritable_output_is_a_user_error(tmp_path: Path, good: Path, target: str) -> None:
    result = invoke("compile", good, "-t", "torch", "-o", target.format(tmp=tmp_path))
    assert result.exit_code == 2
    assert "error: cannot write" in result.stderr


# --------------------------------------------------------------------------- specs


def test_specs_lists_the_library() -> None:
    result = invoke("specs")
    assert result.exit_code == 0, result.output
    names = list_specs()
    assert names
    for name in names:
        assert f"@{name}" in result.stdout
    assert 'import "@lib/resnet_blocks"' in result.stdout  # the block libraries, as they are imported


# --------------------------------------------------------------------------- the real process


def run_cli(*args: object, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "inceptgen.cli", *map(str, args)], capture_output=True, text=True, env=env, cwd=cwd
    )


def test_process_exit_codes(tmp_path: Path, good: Path) -> None:
    bad, line, col = write_bad(tmp_path, "unknown_layer")
    assert run_cli("check", good).returncode == 0
    failed = run_cli("check", bad)
    assert failed.returncode == 2
    assert failed.stderr.startswith(f"{bad}:{line}:{col}: error: ")
    assert "Traceback" not in failed.stderr


def test_no_framework_imported(tmp_path: Path, good: Path) -> None:
    """check, summary, compile and specs never import torch, tensorflow or keras."""
    code = f"""
import sys
from inceptgen.cli import main
for argv in (["check", {str(good)!r}], ["summary", {str(good)!r}], ["summary", "@naive_module", "--format", "json"],
             ["compile", {str(good)!r}, "--target", "torch", "-o", {str(tmp_path / "t.py")!r}],
             ["compile", {str(good)!r}, "--target", "keras", "-o", {str(tmp_path / "k.py")!r}], ["specs"]):
    sys.argv = ["inceptgen", *argv]
    try:
        main()
    except SystemExit as exit:
        assert exit.code in (0, None), (argv, exit.code)
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "tensorflow", "keras"))
assert not heavy, heavy
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "t.py").read_text().startswith(HEADER_MARK)
    assert (tmp_path / "k.py").read_text().startswith(HEADER_MARK)


# --------------------------------------------------------------------------- runtime commands (plumbing only)


def fake_module(monkeypatch: pytest.MonkeyPatch, name: str, **attrs: object) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__spec__ = importlib.machinery.ModuleSpec(name, None)
    module.__dict__.update(attrs)
    monkeypatch.setitem(sys.modules, name, module)
    return module


class FakeReport:
    def __init__(self, ok: bool) -> None:
        self.ok = ok

    def to_dict(self) -> dict[str, object]:
        return {"ok": self.ok, "outputs": []}

    def render(self, console) -> None:
        console.print("parity table")


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, tuple, dict]]:
    """Fake runtime modules recording their calls; returns the record."""
    record: list[tuple[str, tuple, dict]] = []

    def recorder(name: str, result):
        def call(*args, **kwargs):
            record.append((name, args, kwargs))
            return result(*args, **kwargs) if callable(result) else result

        return call

    fake_module(
        monkeypatch,
        "inceptgen.runtime.parity",
        run_parity=recorder("run_parity", lambda spec, **kw: FakeReport(ok=spec.checked.outputs["main"] != (3,))),
    )
    fake_module(monkeypatch, "inceptgen.runtime.convert", convert_checkpoint=recorder("convert_checkpoint", None))
    fake_module(
        monkeypatch,
        "inceptgen.runtime.train",
        train=recorder("train", {"test_accuracy": 0.5}),
        evaluate=recorder("evaluate", {"accuracy": 0.4321, "images": 1000}),
    )
    return record


def test_parity_arguments(calls: list, good: Path) -> None:
    app = cli.build_app()
    result = invoke("parity", good, "--tol", "1e-3", "--batch", 4, "--seed", 7, "--optimize", "torch", app=app)
    assert result.exit_code == 0, result.output
    (name, (spec,), kwargs), *_ = calls
    assert name == "run_parity"
    assert spec.model.name == "tiny"
    assert kwargs == {"tol": 1e-3, "batch": 4, "seed": 7, "optimize": "torch"}
    assert "parity table" in result.stdout


def test_parity_offers_only_the_optimised_builds_that_exist(calls: list, good: Path) -> None:
    # 0.1 offered `--optimize keras` before the Keras build had one: it ended in exit 2 after building the models.
    result = invoke("parity", good, "--optimize", "onnx", app=cli.build_app())
    assert result.exit_code == 2 and "'onnx'" in result.output
    assert calls == []
    result = invoke("parity", good, "--optimize", "keras", app=cli.build_app())
    assert result.exit_code == 0, result.output
    assert calls[0][2]["optimize"] == "keras"


def test_parity_defaults_and_json(calls: list, good: Path) -> None:
    result = invoke("parity", good, "--json", app=cli.build_app())
    assert result.exit_code == 0, result.output
    assert calls[0][2] == {"tol": 1e-4, "seed": 0, "optimize": "none"}  # batch: run_parity's own default
    assert json.loads(result.stdout) == {"ok": True, "outputs": []}


def test_parity_failure_exits_1(calls: list, good: Path) -> None:
    result = invoke("parity", good, "--set", "classes=3", app=cli.build_app())
    assert result.exit_code == 1


def test_parity_missing_framework_is_a_user_error(monkeypatch: pytest.MonkeyPatch, good: Path) -> None:
    def needs_torch(*args, **kwargs):
        raise ModuleNotFoundError("No module named 'torch'", name="torch")

    fake_module(monkeypatch, "inceptgen.runtime.parity", run_parity=needs_torch)
    result = invoke("parity", good, app=cli.build_app())
    assert result.exit_code == 2
    assert "pip install 'inceptgen[torch]'" in result.stderr


def test_convert_arguments(calls: list, tmp_path: Path, good: Path) -> None:
    app = cli.build_app()
    ckpt, out = tmp_path / "model.pt", tmp_path / "model.weights.h5"
    ckpt.write_bytes(b"weights")
    result = invoke("convert", good, "--from", "torch", "--to", "keras", ckpt, out, app=app)
    assert result.exit_code == 0, result.output
    name, (spec, src, dst), kwargs = calls[0]
    assert (name, src, dst) == ("convert_checkpoint", "torch", "keras")
    assert kwargs == {"checkpoint": ckpt, "out": out, "force": False}
    out.write_bytes(b"old")
    refused = invoke("convert", good, "--from", "torch", "--to", "keras", ckpt, out, app=app)
    assert refused.exit_code == 2
    assert len(calls) == 1
    forced = invoke("convert", good, "--from", "torch", "--to", "keras", ckpt, out, "--force", app=app)
    assert forced.exit_code == 0
    assert calls[1][2]["force"] is True


@pytest.mark.parametrize(
    "args",
    [
        ["--from", "torch", "--to", "torch", "{ckpt}", "{out}"],
        ["--from", "torch", "--to", "keras", "{tmp}/missing.pt", "{out}"],
        ["--from", "torch", "--to", "tf", "{ckpt}", "{out}"],
        ["--from", "torch", "{ckpt}", "{out}"],
    ],
)
def test_convert_bad_arguments(calls: list, tmp_path: Path, good: Path, args: list[str]) -> None:
    ckpt = tmp_path / "model.pt"
    ckpt.write_bytes(b"weights")
    fill = {"ckpt": ckpt, "out": tmp_path / "out.h5", "tmp": tmp_path}
    result = invoke("convert", good, *[a.format(**fill) for a in args], app=cli.build_app())
    assert result.exit_code == 2, result.output
    assert calls == []


def test_train_arguments(calls: list, tmp_path: Path, good: Path) -> None:
    app = cli.build_app()
    args = ["train", good, "--target", "keras", "--data", "cifar10", "--out", tmp_path / "run"]
    options = ["--epochs", 2, "--batch-size", 64, "--lr", 0.05, "--limit-train", 500, "--limit-test", 100]
    options += ["--seed", 3, "--download", "--resume", tmp_path / "old", "--label-smoothing", 0.1]
    result = invoke(*args, *options, app=app)
    assert result.exit_code == 0, result.output
    name, (spec, target), kwargs = calls[0]
    assert (name, target) == ("train", "keras")
    assert kwargs == {
        "data": "cifar10",
        "out": tmp_path / "run",
        "epochs": 2,
        "batch_size": 64,
        "lr": 0.05,
        "limit_train": 500,
        "limit_test": 100,
        "seed": 3,
        "download": True,
        "resume": tmp_path / "old",
        "label_smoothing": 0.1,
    }
    defaults = invoke(*args, app=app)
    assert defaults.exit_code == 0, defaults.output
    assert {k: v for k, v in calls[1][2].items() if k not in ("data", "out")} == {
        "epochs": 10,
        "batch_size": 128,
        "lr": 0.1,
        "limit_train": None,
        "limit_test": None,
        "seed": 0,
        "download": False,
        "resume": None,
        "label_smoothing": 0.0,
    }


def test_train_resume_without_out(calls: list, tmp_path: Path, good: Path) -> None:
    args = ["train", good, "--target", "torch", "--data", tmp_path, "--resume", tmp_path / "run"]
    result = invoke(*args, app=cli.build_app())
    assert result.exit_code == 0, result.output
    assert calls[0][2]["out"] is None
    assert calls[0][2]["resume"] == tmp_path / "run"


def test_interrupted_training_exits_130(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, good: Path) -> None:
    def interrupted(*args, **kwargs):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise InceptgenError("training interrupted; epoch 1 saved", hint="--resume RUN_DIR") from None

    fake_module(monkeypatch, "inceptgen.runtime.train", train=interrupted, evaluate=None)
    args = ["train", good, "--target", "torch", "--data", tmp_path, "--out", tmp_path / "run"]
    result = invoke(*args, app=cli.build_app())
    assert result.exit_code == 130
    assert "error: training interrupted; epoch 1 saved" in result.stderr


@pytest.mark.parametrize(
    "extra", [[], ["--epochs", "0"], ["--lr", "0"], ["--label-smoothing", "1"], ["--batch-size", "-1"]]
)
def test_train_bad_arguments(calls: list, tmp_path: Path, good: Path, extra: list[str]) -> None:
    base = ["train", good, "--target", "torch", "--data", tmp_path]
    args = base + (["--out", tmp_path / "run"] + extra if extra else [])  # [] leaves out the required --out
    result = invoke(*args, app=cli.build_app())
    assert result.exit_code == 2, result.output
    assert calls == []


def test_evaluate_arguments(calls: list, tmp_path: Path, good: Path) -> None:
    ckpt = tmp_path / "model.pt"
    ckpt.write_bytes(b"weights")
    args = ["evaluate", good, "--target", "torch", "--checkpoint", ckpt, "--data", tmp_path, "--limit-test", 100]
    result = invoke(*args, app=cli.build_app())
    assert result.exit_code == 0, result.output
    name, (spec, target, checkpoint, data, limit_test), _ = calls[0]
    assert (name, target, checkpoint, data, limit_test) == ("evaluate", "torch", ckpt, str(tmp_path), 100)
    assert "accuracy 0.4321" in result.stdout
    args[args.index("--checkpoint") + 1] = tmp_path / "missing.pt"
    missing = invoke(*args, app=cli.build_app())
    assert missing.exit_code == 2


def test_runtime_commands_only_when_their_module_exists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "_module_exists", lambda name: False)
    app = cli.build_app()
    listing = invoke("--help", app=app).stdout
    offered = {name for name, _, needs in cli._COMMANDS if needs is None}
    assert {"check", "summary", "compile", "specs", "diagram", "fmt", "lsp"} <= offered
    for command, _, _ in cli._COMMANDS:
        if command in offered:
            assert re.search(rf"\b{command}\b", listing), command
        else:
            assert not re.search(rf"^\W*{command}\b", listing, re.M), command
            assert invoke(command, "--help", app=app).exit_code == 2, command
    assert {"parity", "convert", "train", "evaluate", "export"} <= {name for name, _, _ in cli._COMMANDS} - offered


# --------------------------------------------------------------------------- the README's example

README = ROOT / "README.md"
_README_BLOCKS = re.compile(r"```incept\n(?P<spec>.*?)```.*?```python\n(?P<code>.*?)```", re.S)


def readme_example(tmp_dir: Path) -> tuple[str, str, str]:
    """(README text, its example's code block, what `compile tiny.incept --target torch` gives now)."""
    text = README.read_text(encoding="utf-8")
    found = _README_BLOCKS.search(text)
    assert found, "README.md lost its ```incept example followed by a ```python block"
    spec = tmp_dir / "tiny.incept"
    spec.write_text(found["spec"], encoding="utf-8")
    return text, found["code"], inceptgen.load(spec).source("torch")


def test_readme_example_is_current(tmp_path: Path) -> None:
    """The README shows the real compiler output; refresh it with `python tests/test_cli.py --update-readme`."""
    _, shown, generated = readme_example(tmp_path)
    assert shown == generated


if __name__ == "__main__" and sys.argv[1:] == ["--update-readme"]:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        text, shown, generated = readme_example(Path(tmp))
    start = text.index(shown, text.index("```python\n"))
    README.write_text(text[:start] + generated + text[start + len(shown) :], encoding="utf-8")
    print(f"updated {README}")


def test_specs_lists_variants() -> None:
    result = invoke("specs")
    assert result.exit_code == 0, result.output
    row = next(line for line in result.stdout.splitlines() if "@efficientnet_b0 " in line)
    assert "b1, b2, b3" in row


def test_compile_names_the_variant_in_the_header() -> None:
    result = invoke("compile", "@efficientnet_b0", "-t", "torch", "--variant", "b2")
    assert result.exit_code == 0, result.output
    assert "with variant b2" in result.stdout.splitlines()[0]
    assert "input_shape: tuple[int, int, int] = (3, 260, 260)" in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["--target", "torch"],
        ["--target", "keras", "--variant", "b2", "--set", "classes=10"],
        ["--target", "torch", "--set", "input=3x64x64", "--optimize"],
        ["--target", "keras", "--optimize"],
    ],
)
def test_the_header_command_regenerates_the_file(args: list[str]) -> None:
    """The "Do not edit" line's command, run as written, writes the same file (0.1 left out --set)."""
    import shlex

    first = invoke("compile", "@efficientnet_b0", *args)
    assert first.exit_code == 0, first.output
    command = re.search(r"run `(.*)`\.$", first.stdout.splitlines()[1]).group(1)
    words = shlex.split(command)
    assert words[:2] == ["inceptgen", "compile"]
    again = invoke(*words[1:])
    assert again.exit_code == 0, again.output
    assert again.stdout == first.stdout


def test_check_checks_every_variant(tmp_path: Path) -> None:
    spec = tmp_path / "v.incept"
    spec.write_text(
        "model m(input = 3x8x8, width = 4)\nvariant wide(width = 8)\nvariant odd(width = 7 / 2)\n"
        "stage s { conv 1x1 -> width }\n"
    )
    result = invoke("check", spec)
    assert result.exit_code == 2
    assert f"ok: {spec}: m 16 parameters" in result.stdout
    assert f"ok: {spec} --variant wide: m 32 parameters" in result.stdout
    assert "conv out must be an integer, got 3.5" in result.stderr
    assert "in variant 'odd' (inceptgen check --variant odd)" in result.stderr
    only = invoke("check", spec, "--variant", "wide")
    assert only.exit_code == 0 and only.stdout.count("ok:") == 1


def test_concurrent_compiles_to_one_file_leave_one_complete_file(tmp_path: Path, good: Path) -> None:
    """20 processes writing the same `-o` at once: the file is one of their outputs, whole."""
    out = tmp_path / "model.py"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    runs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "inceptgen.cli",
                "compile",
                str(good),
                "-t",
                "torch",
                "-o",
                str(out),
                "--set",
                f"classes={n}",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )  # fmt: skip
        for n in range(2, 22)
    ]
    results = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0] * 20, results
    text = out.read_text()
    assert text in {inceptgen.load(good, classes=n).source("torch") for n in range(2, 22)}
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([good.name, "model.py"])  # no temporary file left
