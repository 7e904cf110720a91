"""`inceptgen fmt`: idempotent, meaning-preserving, comment-keeping, and safe with files.

Meaning is checked twice over: the parser's tree (every position left out) is the same
before and after, and so are the lowered IR and every checked node (path, operation,
shapes, parameter counts, MACs, option values). The corpus: every spec of the library,
every spec block of docs/language.md, the parity fixtures, and generated specs whose
layout is scrambled first (random blanks, `;` for line breaks, comments anywhere a
comment may go).
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import inceptgen
from inceptgen.errors import InceptgenError
from inceptgen.fmt import format_text, without_positions
from inceptgen.fmt.files import format_file
from inceptgen.parse import _parser, parse
from tests.fuzz.specgen import GenSpec, valid_specs

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "specs"
LIBRARY = sorted(SPECS.glob("*.incept")) + sorted((SPECS / "lib").glob("*.incept"))
FIXTURES = sorted((ROOT / "tests" / "fixtures" / "parity").glob("*.incept"))
_FENCE = re.compile(r"^```incept[ \t]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
DOC_BLOCKS = _FENCE.findall((ROOT / "docs" / "language.md").read_text(encoding="utf-8"))


def run_cli(*args: str, stdin: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "inceptgen", *args], capture_output=True, text=True, input=stdin, cwd=cwd
    )


def checked_meaning(spec: inceptgen.Spec) -> tuple:
    """Everything a checked spec means, without where it was written (or its text's digest)."""
    model = dataclasses.replace(spec.checked.model, file="", source_hash="")
    nodes = [
        (n.path, n.op, n.in_shape, n.out_shape, n.params, n.trainable, n.keras_params, n.macs, dict(n.values))
        for n in spec.checked.nodes
    ]
    return without_positions(model), nodes, dict(spec.checked.outputs)


def assert_formats_stably(text: str, file: str = "<spec>") -> str:
    """Format `text`; the result is a fixed point and the same parse tree."""
    result = format_text(text, file)
    assert format_text(result, file) == result, "formatting twice changed the text again"
    assert without_positions(parse(result, file)) == without_positions(parse(text, file))
    return result


# ------------------------------------------------------------------------- the library


@pytest.fixture(scope="module")
def formatted_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of specs/ with every file formatted in place by the command."""
    copy = tmp_path_factory.mktemp("fmt") / "specs"
    shutil.copytree(SPECS, copy)
    (copy / "lib" / "unformatted.incept").write_text("block x(c) {conv 1x1->c}\n")  # one change at least
    result = run_cli("fmt", str(copy))
    assert result.returncode == 0, result.stderr
    assert re.search(r"[1-9]\d* files? reformatted", result.stderr), result.stderr
    (copy / "lib" / "unformatted.incept").unlink()
    return copy


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: str(p.relative_to(SPECS)))
def test_library_spec_is_formatted_and_formatting_is_stable(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert assert_formats_stably(text, str(path)) == text, f"run `inceptgen fmt {path.relative_to(ROOT)}`"


@pytest.mark.parametrize("path", sorted(SPECS.glob("*.incept")), ids=lambda p: p.name)
def test_library_spec_checks_the_same_after_formatting(path: Path, formatted_library: Path) -> None:
    # The copy was formatted as a whole (its libraries too): every model checks as before.
    before, after = inceptgen.load(path), inceptgen.load(formatted_library / path.name)
    assert checked_meaning(after) == checked_meaning(before)


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_parity_fixture_means_the_same_after_formatting(path: Path, tmp_path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    copy = tmp_path / path.name
    copy.write_text(assert_formats_stably(text, str(path)), encoding="utf-8")
    assert checked_meaning(inceptgen.load(copy)) == checked_meaning(inceptgen.load(path))


@pytest.mark.parametrize("index", range(len(DOC_BLOCKS)))
def test_docs_spec_block_means_the_same_after_formatting(index: int) -> None:
    text = DOC_BLOCKS[index]
    try:
        parse(text, "docs/language.md")
    except InceptgenError:
        pytest.fail(f"docs/language.md block {index} does not parse")  # test_parse.py says where
    result = assert_formats_stably(text)
    try:
        before = inceptgen.load(text)
    except InceptgenError as err:  # a fragment (a library, an error example): the parse tree is the meaning
        with pytest.raises(InceptgenError) as again:
            inceptgen.load(result)
        assert again.value.message == err.message
        return
    assert checked_meaning(inceptgen.load(result)) == checked_meaning(before)


def test_the_docs_have_spec_blocks() -> None:
    assert len(DOC_BLOCKS) >= 15


# ---------------------------------------------------------------------- generated specs


@st.composite
def scrambled(draw: st.DrawFn, text: str) -> tuple[str, list[str]]:
    """`text` with another valid layout: random blanks between tokens, separators (`_NL`) redrawn
    as runs of line breaks, `;` and comments. Returns the text and the comments put in it."""
    comments: list[str] = []
    out: list[str] = []
    end = 0
    for tok in _parser().parse_interactive(text).iter_parse():
        if text[end : tok.start_pos]:
            out.append(draw(st.sampled_from([" ", "  ", "\t", " \t "])))
        if tok.type == "_NL":
            for _ in range(draw(st.integers(1, 3))):
                kind = draw(st.sampled_from(["newline", "newline", "semicolon", "comment"]))
                if kind == "comment":
                    comments.append(f"# c{len(comments)}")
                    out.append(draw(st.sampled_from(["", " ", "    "])) + comments[-1] + "\n")
                else:
                    out.append(";" if kind == "semicolon" else "\n" + draw(st.sampled_from(["", "  ", "\t"])))
        else:
            out.append(str(tok))
        end = tok.end_pos
    return "".join(out), comments


@st.composite
def scrambled_specs(draw: st.DrawFn) -> tuple[GenSpec, str, list[str]]:
    gen = draw(valid_specs(max_layers=12, max_depth=2))
    text, comments = draw(scrambled(gen.text))
    return gen, text, comments


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(scrambled_specs())
def test_scrambled_generated_specs_format_to_the_same_spec(case: tuple[GenSpec, str, list[str]]) -> None:
    gen, text, comments = case
    result = assert_formats_stably(text)
    assert re.findall(r"# c\d+", result) == comments, "a comment was lost or moved out of order"
    assert checked_meaning(inceptgen.load(result)) == checked_meaning(inceptgen.load(gen.text))


def test_a_warning_moved_by_a_dropped_comment_means_the_same() -> None:
    """Hypothesis found it: warnings hold bare spans, which the comparison must leave out too."""
    spec = "model m(input = 3x8x8)\nblock unused() { relu }\nstage s { relu }\n"
    commented = "# a spec\n\n" + spec
    assert inceptgen.load(spec).checked.model.warnings[0][1] != inceptgen.load(commented).checked.model.warnings[0][1]
    assert checked_meaning(inceptgen.load(spec)) == checked_meaning(inceptgen.load(commented))


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(valid_specs(max_layers=12, max_depth=2), st.randoms(use_true_random=False))
def test_blanks_never_change_the_formatted_text(gen: GenSpec, rng) -> None:
    """Spacing and indentation are canonical: respacing a spec changes nothing after formatting."""
    assert '"' not in gen.text  # no strings: every blank outside a comment is between tokens

    def respace(line: str) -> str:
        code, hash_, comment = line.partition("#")
        code = re.sub(r"(?<=\S) (?=\S)", lambda m: rng.choice([" ", "  ", "\t", " \t"]), code.strip())
        return " " * rng.randint(0, 5) + code + " " * rng.randint(0, 2) + hash_ + comment

    respaced = "\n".join(respace(line) for line in gen.text.split("\n"))
    assert format_text(respaced) == format_text(gen.text)


# ------------------------------------------------------------------------------ style


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("model m(input=3x8x8)\nstage s{conv 3x3->8 stride 2}\n",
         "model m(input = 3x8x8)\nstage s { conv 3x3 -> 8 stride 2 }\n"),
        ("model m(input = 3x8x8); stage s { conv 1x1 -> 4 }", "model m(input = 3x8x8)\nstage s { conv 1x1 -> 4 }\n"),
        (
            "model m(input = 3x8x8)\nstage s { conv 1x1 -> 4\n    relu }\n",
            "model m(input = 3x8x8)\nstage s {\n  conv 1x1 -> 4\n  relu\n}\n",
        ),
        ("model m(input = 3x8x8)\nstage s {\n    bn ;relu\n}\n", "model m(input = 3x8x8)\nstage s {\n  bn; relu\n}\n"),
        ("model m(input = 3x8x8)\n\n\n\nstage s { relu }\n\n\n", "model m(input = 3x8x8)\n\nstage s { relu }\n"),
        ("model m(input = 3x8x8)\nstage s {\n\n  relu\n\n}\n", "model m(input = 3x8x8)\nstage s {\n  relu\n}\n"),
        ("model m( input = 3x8x8 , c = - 1 )\nstage s { rescale offset - 1 factor c-1 }\n",
         "model m(input = 3x8x8, c = -1)\nstage s { rescale offset -1 factor c - 1 }\n"),
        ("model m(input = 3x8x8)\nstage s { concat { branch { relu };  branch { } } }\n",
         "model m(input = 3x8x8)\nstage s { concat { branch { relu } branch {} } }\n"),
        ("model m(\ninput = 3x8x8,\n        w = ceil( 2 * 1.5 ),\n)\nstage s { relu }\n",
         "model m(\n  input = 3x8x8,\n  w = ceil(2 * 1.5),\n)\nstage s { relu }\n"),
        ("model m(input = 3x8x8)\nstage s { if 1 > 0 { relu\n} else { relu } }\n",
         "model m(input = 3x8x8)\nstage s {\n  if 1 > 0 {\n    relu\n  } else { relu }\n}\n"),
    ],
    ids=["spacing", "one-item-per-line", "multi-line-body", "semicolon-join-kept", "blank-lines",
         "no-blank-at-body-ends", "unary-minus", "separator-after-brace", "parameter-lines", "else"],
)  # fmt: skip
def test_canonical_style(source: str, expected: str) -> None:
    assert format_text(source) == expected
    assert format_text(expected) == expected


def test_comments_stay_where_they_were() -> None:
    source = (
        "# header\n\n"
        "model m(input = 3x8x8)   # the model\n"
        "stage s {  # a stage\n"
        "      # before the conv\n"
        "  conv 1x1 -> 4 # trailing\n"
        "  relu  # aligned with the one above\n"
        "  # before the brace\n"
        "}\n"
        "# at the end, no newline"
    )
    expected = (
        "# header\n\n"
        "model m(input = 3x8x8)   # the model\n"
        "stage s {                # a stage\n"
        "  # before the conv\n"
        "  conv 1x1 -> 4  # trailing\n"
        "  relu           # aligned with the one above\n"
        "  # before the brace\n"
        "}\n"
        "# at the end, no newline\n"
    )
    assert format_text(source) == expected
    assert format_text(expected) == expected


def test_trailing_comments_keep_the_column_they_were_aligned_in() -> None:
    source = (
        "model m(input = 3x8x8)\nstage s {\n"
        "  conv 1x1 -> 4                # 4 x 8 x 8\n"
        "  relu                         # same\n"
        "}\n"
    )
    assert format_text(source) == source


def test_empty_and_comment_only_files() -> None:
    assert format_text("") == ""
    assert format_text("\n\n  \n") == ""
    assert format_text("# only a comment") == "# only a comment\n"


# ------------------------------------------------------------------------ the command


SPEC = "model m(input = 3x8x8)\nstage s { conv 3x3 -> 8 }\n"
UNFORMATTED = "model m(input=3x8x8)\nstage s {conv 3x3->8}\n"


def test_fmt_rewrites_a_file_and_then_leaves_it(tmp_path: Path) -> None:
    path = tmp_path / "a.incept"
    path.write_text(UNFORMATTED)
    first = run_cli("fmt", str(path))
    assert (first.returncode, path.read_text()) == (0, SPEC), first.stderr
    assert "1 file reformatted, 0 files left unchanged" in first.stderr
    second = run_cli("fmt", str(path))
    assert second.returncode == 0 and "0 files reformatted, 1 file left unchanged" in second.stderr


def test_check_exits_1_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "a.incept"
    path.write_text(UNFORMATTED)
    result = run_cli("fmt", "--check", str(path))
    assert result.returncode == 1 and f"would reformat {path}" in result.stdout
    assert path.read_text() == UNFORMATTED
    path.write_text(SPEC)
    assert run_cli("fmt", "--check", str(path)).returncode == 0


def test_diff_prints_a_unified_diff_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "a.incept"
    path.write_text(UNFORMATTED)
    result = run_cli("fmt", "--diff", str(path))
    assert result.returncode == 1
    assert result.stdout.startswith(f"--- {path}\n+++ {path}\n@@")
    assert "\n-stage s {conv 3x3->8}\n+model m(input = 3x8x8)\n+stage s { conv 3x3 -> 8 }\n" in result.stdout
    assert path.read_text() == UNFORMATTED


def test_a_syntax_error_is_reported_as_check_reports_it_and_the_file_is_untouched(tmp_path: Path) -> None:
    path = tmp_path / "bad.incept"
    path.write_text("model m(input = 3x8x8)\nstage s { conv 3x3 -> 8 strid 2 }\n")
    before = path.stat()
    fmt, check = run_cli("fmt", str(path)), run_cli("check", str(path))
    assert fmt.returncode == check.returncode == 2
    assert fmt.stderr.splitlines()[:4] == check.stderr.splitlines()[:4]  # file:line:col, source, caret, hint
    assert f"{path}:2:25: error: 'strid' is not an option" in fmt.stderr and "Traceback" not in fmt.stderr
    assert path.stat().st_mtime_ns == before.st_mtime_ns and path.read_text().endswith("strid 2 }\n")


def test_a_bad_file_does_not_stop_the_others(tmp_path: Path) -> None:
    (tmp_path / "a_bad.incept").write_text("stage {\n")
    (tmp_path / "b.incept").write_text(UNFORMATTED)
    result = run_cli("fmt", str(tmp_path))
    assert result.returncode == 2 and "a_bad.incept:" in result.stderr
    assert (tmp_path / "b.incept").read_text() == SPEC


def test_directories_are_searched_for_specs_skipping_hidden_ones(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / ".hidden").mkdir()
    for path in (tmp_path / "sub" / "a.incept", tmp_path / ".hidden" / "b.incept", tmp_path / "c.txt"):
        path.write_text(UNFORMATTED)
    result = run_cli("fmt", "--check", str(tmp_path))
    assert result.returncode == 1 and result.stdout == f"would reformat {tmp_path / 'sub' / 'a.incept'}\n"


def test_missing_file_is_a_one_line_user_error(tmp_path: Path) -> None:
    result = run_cli("fmt", str(tmp_path / "missing.incept"))
    assert result.returncode == 2 and "cannot read spec" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("stdin", "message"),
    [
        (b"model m(input = 3x8x8)\n\xff\n", "error: <stdin>: invalid UTF-8 at byte offset 23"),
        (b"# " + b"x" * 1_000_000 + b"\n", "error: <stdin>: spec is more than the limit of 1,000,000 bytes"),
        (b"model m(input = 3x8x8)\x00\n", "error: <stdin>: NUL byte at byte offset 22: not a text file"),
    ],
    ids=["invalid UTF-8", "over the size limit", "a NUL byte"],
)
def test_bad_standard_input_is_refused_and_nothing_is_printed(stdin: bytes, message: str) -> None:
    result = subprocess.run([sys.executable, "-m", "inceptgen", "fmt", "-"], capture_output=True, input=stdin)
    assert result.returncode == 2
    assert result.stdout == b""
    assert result.stderr.decode().splitlines()[0] == message


@pytest.mark.parametrize("node", ["fifo", "device"])
def test_a_path_that_is_no_regular_file_is_refused_without_blocking(tmp_path: Path, node: str) -> None:
    path = tmp_path / "spec.incept"
    if node == "fifo":
        os.mkfifo(path)  # no writer: reading would block forever
    target = "/dev/null" if node == "device" else str(path)
    result = subprocess.run(
        [sys.executable, "-m", "inceptgen", "fmt", target], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert f"error: cannot read spec {target!r}: not a regular file" in result.stderr
    assert "Traceback" not in result.stderr


def test_line_ends_and_byte_order_mark_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "a.incept"
    path.write_bytes(b"\xef\xbb\xbf" + UNFORMATTED.replace("\n", "\r\n").encode())
    assert run_cli("fmt", str(path)).returncode == 0
    assert path.read_bytes() == b"\xef\xbb\xbf" + SPEC.replace("\n", "\r\n").encode()


def test_standard_input_to_standard_output() -> None:
    result = run_cli("fmt", "-", stdin=UNFORMATTED)
    assert (result.returncode, result.stdout) == (0, SPEC)
    assert run_cli("fmt", "--check", "-", stdin=UNFORMATTED).returncode == 1


def test_concurrent_formatting_of_one_file_leaves_it_complete(tmp_path: Path) -> None:
    path = tmp_path / "a.incept"
    big = UNFORMATTED + "".join(f"stage s{i} {{conv 1x1->8}}\n" for i in range(200))
    path.write_text(big)
    expected = format_text(big)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            format_file(path, write=True)
        except InceptgenError as err:  # a reader may see the file mid-replace: never half of it
            errors.append(err)

    threads = [threading.Thread(target=work) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and path.read_text() == expected
    assert [p.name for p in tmp_path.iterdir()] == ["a.incept"], "a temporary file was left behind"


def test_fmt_imports_no_framework(tmp_path: Path) -> None:
    path = tmp_path / "a.incept"
    path.write_text(UNFORMATTED)
    script = (
        "import sys\nfrom inceptgen.cli import app\n"
        "try:\n    app(['fmt', sys.argv[1]], prog_name='inceptgen')\nexcept SystemExit:\n    pass\n"
        "assert not {'torch', 'tensorflow', 'keras'} & set(sys.modules), 'a framework was imported'\n"
    )
    result = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert path.read_text() == SPEC


def test_a_formatter_bug_is_caught_before_anything_is_written(tmp_path: Path, monkeypatch) -> None:
    """The result is parsed again: a layout that changed the spec is refused, the file left as it was."""
    import inceptgen.fmt as fmt

    path = tmp_path / "a.incept"
    real = fmt.render
    monkeypatch.setattr(fmt, "render", lambda lines: real(lines).replace("relu", "relu relu"))
    path.write_text(UNFORMATTED.replace("conv 3x3->8", "relu\nrelu"))
    with pytest.raises(fmt.FormatterError, match="a different spec"):
        format_file(path, write=True)
    monkeypatch.setattr(fmt, "render", lambda lines: real(lines).replace("{", "{{"))
    with pytest.raises(fmt.FormatterError, match="does not parse"):
        format_file(path, write=True)
    assert path.read_text() == UNFORMATTED.replace("conv 3x3->8", "relu\nrelu")
