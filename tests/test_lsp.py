"""`inceptgen lsp`, end to end: a real LSP client (pytest-lsp) drives the server over stdio.

What an editor sees: diagnostics at the checker's ranges, cleared once fixed; hover with the
checker's shapes, parameters and MACs; completion from the vocabulary; definitions across
imports; symbols; formatting. And the load test of issue 18: 1,000 edits in a burst, every
response well-formed, memory bounded, and every diagnostic published matching `check`.
"""

from __future__ import annotations

import ast
import asyncio
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types as lsp
from pygls.protocol import default_converter
from pytest_lsp import ClientServerConfig, LanguageClient
from pytest_lsp.client import DEFAULT_CLIENT_FEATURES, register_lsp_features

import inceptgen
from inceptgen import syntax as sx
from inceptgen.errors import InceptgenError
from inceptgen.fmt import format_text
from inceptgen.ops import OPS, fmt_shape
from inceptgen.parse import parse

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "specs"
#: How long any one wait may take before the test calls it a hang (never a timing assertion).
HANG_GUARD_S = 120.0

#: Every async test shares the module's event loop, and with it one server.
in_module_loop = pytest.mark.asyncio(loop_scope="module")


class RecordingClient(LanguageClient):
    """The test client, also keeping every publishDiagnostics with the version it names."""

    published: list[lsp.PublishDiagnosticsParams]


def _recording_client() -> RecordingClient:
    client = RecordingClient(converter_factory=default_converter)
    client.published = []

    def record(ls: RecordingClient, params: lsp.PublishDiagnosticsParams) -> None:
        ls.published.append(params)
        ls.diagnostics[params.uri] = params.diagnostics

    register_lsp_features(client, {**DEFAULT_CLIENT_FEATURES, lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS: record})
    return client


CONFIG = ClientServerConfig(server_command=[sys.executable, "-m", "inceptgen", "lsp"], client_factory=_recording_client)


@pytest_lsp.fixture(scope="module", config=CONFIG)
async def client(lsp_client: RecordingClient):
    await lsp_client.initialize_session(lsp.InitializeParams(capabilities=lsp.ClientCapabilities()))
    yield
    await lsp_client.shutdown_session()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of specs/ (documents live beside the libraries they import)."""
    copy = tmp_path_factory.mktemp("lsp") / "specs"
    shutil.copytree(SPECS, copy)
    return copy


# -------------------------------------------------------------------------- helpers


def open_doc(client: LanguageClient, path: Path, text: str) -> str:
    uri = path.as_uri()
    client.text_document_did_open(lsp.DidOpenTextDocumentParams(lsp.TextDocumentItem(uri, "incept", 1, text)))
    return uri


def change(client: LanguageClient, uri: str, version: int, text: str, incremental: bool = False) -> None:
    if incremental:  # the whole text as one ranged edit, as an editor sends a paste over a selection
        edit: lsp.TextDocumentContentChangeEvent = lsp.TextDocumentContentChangePartial(
            range=lsp.Range(lsp.Position(0, 0), lsp.Position(100_000, 0)), text=text
        )
    else:
        edit = lsp.TextDocumentContentChangeWholeDocument(text=text)
    client.text_document_did_change(
        lsp.DidChangeTextDocumentParams(lsp.VersionedTextDocumentIdentifier(version, uri), [edit])
    )


async def diagnostics(client: RecordingClient, uri: str, version: int) -> tuple[lsp.Diagnostic, ...]:
    """The diagnostics the server published for this version of the document (waiting for them)."""

    async def wait() -> tuple[lsp.Diagnostic, ...]:
        while True:
            for params in reversed(client.published):
                if params.uri == uri and params.version == version:
                    return tuple(params.diagnostics)
            await asyncio.sleep(0.02)

    return await asyncio.wait_for(wait(), HANG_GUARD_S)


def doc_id(uri: str) -> lsp.TextDocumentIdentifier:
    return lsp.TextDocumentIdentifier(uri)


def position_of(text: str, needle: str, offset: int = 0) -> lsp.Position:
    """The position of `needle` (plus `offset` characters) in ASCII `text`."""
    index = text.index(needle) + offset
    line = text.count("\n", 0, index)
    return lsp.Position(line, index - (text.rfind("\n", 0, index) + 1))


# ------------------------------------------------------------------------ diagnostics

BROKEN = "model m(input = 3x16x16)\nstage s {\n  conv 3x3 -> 8\n  cnov 3x3 -> 8 stride 2\n}\n"
FIXED = BROKEN.replace("cnov", "conv")


@in_module_loop
async def test_diagnostic_at_the_error_then_cleared_when_fixed(client: RecordingClient, workspace: Path) -> None:
    uri = open_doc(client, workspace / "typo.incept", BROKEN)
    (error,) = await diagnostics(client, uri, 1)
    with pytest.raises(InceptgenError) as expected:
        inceptgen.load(BROKEN)
    span = expected.value.span
    assert error.severity == lsp.DiagnosticSeverity.Error and error.source == "inceptgen"
    assert error.message == f"{expected.value.message}\nhint: {expected.value.hint}"
    assert (error.range.start.line, error.range.start.character) == (span.line - 1, span.column - 1) == (3, 2)
    assert (error.range.end.line, error.range.end.character) == (span.end_line - 1, span.end_column - 1)
    change(client, uri, 2, FIXED)
    assert await diagnostics(client, uri, 2) == ()


@in_module_loop
async def test_syntax_error_range_and_incremental_edits(client: RecordingClient, workspace: Path) -> None:
    text = "model m(input = 3x16x16)\nstage s { conv 3x3 -> 8 strid 2 }\n"
    uri = open_doc(client, workspace / "syntax.incept", text)
    (error,) = await diagnostics(client, uri, 1)
    assert error.message.startswith("'strid' is not an option that takes a value")
    assert (error.range.start.line, error.range.start.character, error.range.end.character) == (1, 24, 29)
    change(client, uri, 2, text.replace("strid", "stride"), incremental=True)
    assert await diagnostics(client, uri, 2) == ()


@in_module_loop
async def test_warnings_are_published_with_their_range(client: RecordingClient, workspace: Path) -> None:
    text = "model m(input = 3x16x16)\nblock unused(c) { conv 1x1 -> c }\nstage s { conv 3x3 -> 8 }\n"
    uri = open_doc(client, workspace / "warning.incept", text)
    (warning,) = await diagnostics(client, uri, 1)
    assert warning.severity == lsp.DiagnosticSeverity.Warning
    assert warning.message == "block 'unused' is defined but never used"
    assert (warning.range.start.line, warning.range.start.character) == (1, 0)


@in_module_loop
async def test_columns_are_counted_in_utf16_units(client: RecordingClient, workspace: Path) -> None:
    # Two characters outside the BMP before the error: two UTF-16 units each, one character each.
    text = 'model m(input = 3x16x16)\nstage s { conv 3x3 -> 8 pad "\U0001f600\U0001f600" cnov }\n'
    uri = open_doc(client, workspace / "unicode.incept", text)
    (error,) = await diagnostics(client, uri, 1)
    with pytest.raises(InceptgenError) as expected:
        inceptgen.load(text)
    column = expected.value.span.column - 1
    assert column > text.split("\n")[1].index("\U0001f600")
    assert error.range.start.character == column + 2


@in_module_loop
async def test_a_library_document_has_no_diagnostics(client: RecordingClient, workspace: Path) -> None:
    path = workspace / "lib" / "inception_v3_blocks.incept"
    uri = open_doc(client, path, path.read_text())
    assert await diagnostics(client, uri, 1) == ()
    change(client, uri, 2, path.read_text().replace("conv 1x1 -> 64 }", "conv 1x1 -> 64 strid 2 }", 1))
    (error,) = await diagnostics(client, uri, 2)
    assert "'strid'" in error.message


@in_module_loop
async def test_an_error_in_an_import_is_shown_on_the_import(client: RecordingClient, tmp_path: Path) -> None:
    (tmp_path / "lib.incept").write_text("block b(c) { cnov 1x1 -> c }\n")
    text = 'import "lib.incept"\nmodel m(input = 3x8x8)\nstage s { b(4) }\n'
    uri = open_doc(client, tmp_path / "main.incept", text)
    (error,) = await diagnostics(client, uri, 1)
    assert error.message.startswith(f"{tmp_path / 'lib.incept'}:1:14: unknown layer 'cnov'")
    assert (error.range.start.line, error.range.end.line) == (0, 0)


# ----------------------------------------------------------------------------- queries

USES = (
    'import "lib/inception_v3_blocks.incept"\n'
    "model uses(classes = 10, input = 3x75x75)\n"
    "stage stem { conv 3x3 -> 32 stride 2 pad valid; stem() }\n"
    "stage mixed { inception_a(32) as mixed0 }\n"
    "head { global_avgpool; linear -> classes }\n"
)


def checked_uses() -> inceptgen.Spec:
    """USES as `check` sees it (its import made absolute: `load(text)` reads imports from the working directory)."""
    return inceptgen.load(USES.replace('"lib/', f'"{SPECS / "lib"}/'))


@in_module_loop
async def test_hover_over_a_conv_shows_the_checker_shape(client: RecordingClient, workspace: Path) -> None:
    uri = open_doc(client, workspace / "uses.incept", USES)
    assert await diagnostics(client, uri, 1) == ()
    result = await client.text_document_hover_async(lsp.HoverParams(doc_id(uri), position_of(USES, "conv 3x3", 1)))
    conv = checked_uses().checked.node("stem.conv")
    text = result.contents.value
    assert f"| `stem.conv` | {fmt_shape(conv.in_shape)} | {fmt_shape(conv.out_shape)} |" in text
    assert f"| {conv.params:,} | {conv.macs:,} |" in text and OPS["conv"].summary in text
    assert (result.range.start.line, result.range.start.character) == (2, 13)


@in_module_loop
async def test_hover_over_a_block_use_counts_everything_inside(client: RecordingClient, workspace: Path) -> None:
    uri = open_doc(client, workspace / "uses2.incept", USES)
    params = lsp.HoverParams(doc_id(uri), position_of(USES, "inception_a", 2))
    text = (await client.text_document_hover_async(params)).contents.value
    checked = checked_uses().checked
    block = checked.node("mixed.mixed0")
    inside = [n for n in checked.nodes if n.path.startswith("mixed.mixed0.")]
    assert f"| `mixed.mixed0` | {fmt_shape(block.in_shape)} | {fmt_shape(block.out_shape)} |" in text
    assert f"| {sum(n.params for n in inside):,} | {sum(n.macs for n in inside):,} |" in text


@in_module_loop
async def test_completion_offers_the_vocabulary_blocks_and_parameters(client: RecordingClient, workspace: Path) -> None:
    # Typed into a document that checked before: the blocks are known although the text does not parse.
    uri = open_doc(client, workspace / "complete.incept", USES)
    await diagnostics(client, uri, 1)
    text = USES.replace("head {", "stage more {\n  \n  conv 3x3 -> 8 \n  inception_a(\n}\nhead {")

    async def labels(position: lsp.Position) -> set[str]:
        result = await client.text_document_completion_async(lsp.CompletionParams(doc_id(uri), position))
        return {item.label for item in result.items}

    top = await labels(lsp.Position(len(USES.split("\n")) - 1, 0))  # after the head: the top level
    assert {"model", "block", "stage", "head", "aux", "import"} <= top and "conv" not in top
    change(client, uri, 2, text)

    start = await labels(position_of(text, "stage more {\n  ", 15))
    assert set(OPS) <= start and {"concat", "repeat", "residual", "inception_a", "stem"} <= start
    after_conv = await labels(position_of(text, "conv 3x3 -> 8 \n", 14))
    assert {"stride", "pad", "groups", "nobias", "bn", "as"} <= after_conv and "maxpool" not in after_conv
    assert set(OPS["conv"].valued) <= after_conv and set(OPS["conv"].flags) <= after_conv
    in_call = await labels(position_of(text, "inception_a(\n", 12))
    assert "pool_proj =" in in_call and "classes" in in_call


@in_module_loop
async def test_definition_of_a_block_across_imports(client: RecordingClient, workspace: Path) -> None:
    uri = open_doc(client, workspace / "define.incept", USES)
    await diagnostics(client, uri, 1)
    params = lsp.DefinitionParams(doc_id(uri), position_of(USES, "inception_a", 3))
    location = await client.text_document_definition_async(params)
    library = workspace / "lib" / "inception_v3_blocks.incept"
    assert location.uri == library.resolve().as_uri()
    line = next(i for i, text in enumerate(library.read_text().split("\n")) if text.startswith("block inception_a("))
    assert (location.range.start.line, location.range.start.character, location.range.end.character) == (line, 6, 17)


@in_module_loop
async def test_document_symbols_list_blocks_and_stages(client: RecordingClient, workspace: Path) -> None:
    text = (
        "model m(input = 3x8x8)\nblock b(c) { conv 1x1 -> c }\nstage s1 { b(4) }\nstage s2 { b(8) }\nhead { flatten }\n"
    )
    uri = open_doc(client, workspace / "symbols.incept", text)
    symbols = await client.text_document_document_symbol_async(lsp.DocumentSymbolParams(doc_id(uri)))
    found = [(s.name, s.kind, s.selection_range.start.line, s.selection_range.start.character) for s in symbols]
    assert found == [
        ("m", lsp.SymbolKind.Class, 0, 6),
        ("b", lsp.SymbolKind.Function, 1, 6),
        ("s1", lsp.SymbolKind.Module, 2, 6),
        ("s2", lsp.SymbolKind.Module, 3, 6),
        ("head", lsp.SymbolKind.Module, 4, 0),
    ]


@in_module_loop
async def test_formatting_returns_the_formatter_output(client: RecordingClient, workspace: Path) -> None:
    text = "model m(input=3x8x8)\nstage s {conv 3x3->8}\n"
    uri = open_doc(client, workspace / "format.incept", text)
    options = lsp.FormattingOptions(tab_size=2, insert_spaces=True)
    (edit,) = await client.text_document_formatting_async(lsp.DocumentFormattingParams(doc_id(uri), options))
    assert edit.new_text == format_text(text) and (edit.range.start.line, edit.range.start.character) == (0, 0)
    change(client, uri, 2, format_text(text))
    assert await client.text_document_formatting_async(lsp.DocumentFormattingParams(doc_id(uri), options)) == ()


# ---------------------------------------------------------------------------- the burst

EDITS = 1000


def _expected(path: Path, text: str) -> list[tuple[int, str, int, int]]:
    """What `check` reports for `text` as the file `path`: (severity, message, line, UTF-16 column)."""
    path.write_text(text, encoding="utf-8")
    lines = text.split("\n")

    def where(span) -> tuple[int, int]:
        if span is None:
            return 0, 0
        line = lines[span.line - 1] if span.line - 1 < len(lines) else ""
        return span.line - 1, len(line[: span.column - 1].encode("utf-16-le")) // 2

    try:
        module = parse(text, str(path))
        if not any(isinstance(item, MAIN_ITEMS) for item in module.items):
            # Blocks only: a library, whose blocks the server checks as an import would. `check`
            # refuses such a file as a main spec ("no model"); the server shows no error for it.
            _load_as_library(path)
            return []
        spec = inceptgen.load(path)
    except InceptgenError as err:
        assert err.span is None or err.span.file == str(path), "a truncation broke an imported file?"
        return [(1, err.message, *where(err.span))]
    return [(2, message, *where(span)) for message, span in spec.warnings]


#: Items only a main spec has.
MAIN_ITEMS = (sx.ModelDecl, sx.Variant, sx.Stage, sx.Head, sx.Aux)


def _load_as_library(path: Path) -> None:
    """Load `path` as an import of a main spec (what the server checks of a library): raises its error."""
    importer = path.with_name("importer.incept")
    importer.write_text(f'import "{path.name}"\nmodel m(input = 1x1x1)\nhead {{ flatten }}\n')
    inceptgen.load(importer)


def _rss_kb(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))


@in_module_loop
async def test_a_burst_of_edits(client: RecordingClient, workspace: Path, tmp_path: Path, record_property) -> None:
    """Issue 18: 1,000 didChange edits, random truncations of library specs, with queries between them."""
    rng = random.Random(18)
    sources = [p.read_text() for p in sorted(workspace.glob("*.incept"))]
    path = workspace / "burst.incept"
    uri = open_doc(client, path, sources[0])
    await diagnostics(client, uri, 1)
    pid = client._server.pid  # the server process pytest-lsp started (for its memory)
    texts = {1: sources[0]}
    rss_start = 0
    for version in range(2, EDITS + 2):
        source = rng.choice(sources)
        texts[version] = source[: rng.randint(0, len(source))]
        change(client, uri, version, texts[version], incremental=version % 2 == 0)
        if version % 50 == 0:  # queries between the edits: every answer a valid LSP result
            position = lsp.Position(rng.randint(0, 40), rng.randint(0, 30))
            hover = await client.text_document_hover_async(lsp.HoverParams(doc_id(uri), position))
            items = await client.text_document_completion_async(lsp.CompletionParams(doc_id(uri), position))
            symbols = await client.text_document_document_symbol_async(lsp.DocumentSymbolParams(doc_id(uri)))
            assert hover is None or isinstance(hover, lsp.Hover)
            assert isinstance(items, lsp.CompletionList) and isinstance(symbols, list)
        if version % 100 == 0:  # a pause: the debounce lets this version's diagnostics out
            await diagnostics(client, uri, version)
        if version == 100:
            rss_start = _rss_kb(pid)
    final = await diagnostics(client, uri, EDITS + 1)  # the last version is always published
    rss_end = _rss_kb(pid)
    assert client._server.returncode is None, "the server died"
    oracle = tmp_path / "specs"
    shutil.copytree(workspace / "lib", oracle / "lib")
    checked_versions = 0
    for params in client.published:
        if params.uri != uri:
            continue
        found = [
            (d.severity.value, d.message.split("\nhint: ")[0], d.range.start.line, d.range.start.character)
            for d in params.diagnostics
        ]
        assert found == _expected(oracle / "burst.incept", texts[params.version]), params.version
        checked_versions += 1
    assert len(final) <= 1 or all(d.severity == lsp.DiagnosticSeverity.Warning for d in final)
    assert checked_versions >= EDITS // 100 + 1
    growth_mb = (rss_end - rss_start) / 1024
    record_property(
        "figure", f"lsp burst: {EDITS} edits, {checked_versions} versions published, RSS +{growth_mb:.1f} MB"
    )
    assert growth_mb < 64, f"the server grew by {growth_mb:.0f} MB over {EDITS} edits"


# ------------------------------------------------------------------------------ safety


def test_the_server_modules_import_no_framework_and_evaluate_nothing() -> None:
    script = (
        "import sys\nfrom pathlib import Path\n"
        "from inceptgen.lsp.server import build_server\nfrom inceptgen.lsp.analysis import analyse\n"
        "from inceptgen.lsp.hover import hover\nfrom inceptgen.lsp.completion import complete\n"
        "from inceptgen.lsp.positions import Positions\n"
        "build_server()\n"
        "path = Path(sys.argv[1])\n"
        "a = analyse(path.read_text(), str(path))\n"
        "assert a.checked is not None and hover(a, Positions(a.text), 20, 5) is not None\n"
        "complete(a.text, 10, 1, a)\n"
        "assert not {'torch', 'tensorflow', 'keras'} & set(sys.modules), 'a framework was imported'\n"
    )
    spec = SPECS / "cifar_mini.incept"
    result = subprocess.run([sys.executable, "-c", script, str(spec)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    for module in (ROOT / "inceptgen" / "lsp").glob("*.py"):
        calls = {
            node.func.id
            for node in ast.walk(ast.parse(module.read_text()))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
        }
        assert not calls & {"eval", "exec", "compile", "__import__"}, module


def test_without_the_editor_extra_lsp_says_what_to_install() -> None:
    script = (
        "import sys\nsys.modules['pygls'] = None  # as if not installed\n"
        "from inceptgen.cli import app\napp(['lsp'], prog_name='inceptgen')\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "the language server needs pygls" in result.stderr and "pip install 'inceptgen[editor]'" in result.stderr
