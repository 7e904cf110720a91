"""editors/vscode: valid JSON, a manifest that starts `inceptgen lsp`, and a TextMate grammar that is
current and scopes every spec as the parser's lexer reads it.

VS Code is not run here. The grammar's patterns are run by a small TextMate matcher written
with Python's `re` (the generator keeps every pattern in the subset Oniguruma and `re` share):
at each position the rule whose match starts first wins, ties by rule order, as in TextMate.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from inceptgen import lexicon
from inceptgen.ops import OPS
from inceptgen.parse import _parser
from inceptgen.textmate import SCOPE, grammar

ROOT = Path(__file__).resolve().parents[1]
VSCODE = ROOT / "editors" / "vscode"
GRAMMAR = VSCODE / "syntaxes" / "incept.tmLanguage.json"
SPECS = sorted((ROOT / "specs").rglob("*.incept")) + sorted((ROOT / "tests" / "fixtures" / "parity").glob("*.incept"))


def load(name: str) -> dict:
    return json.loads((VSCODE / name).read_text(encoding="utf-8"))


# ------------------------------------------------------------------------- the files


@pytest.mark.parametrize("name", ["package.json", "language-configuration.json", "syntaxes/incept.tmLanguage.json"])
def test_json_files_are_valid(name: str) -> None:
    assert isinstance(load(name), dict)


def test_the_grammar_is_what_the_vocabulary_generates() -> None:
    generated = subprocess.run(
        [sys.executable, "-m", "inceptgen.textmate"], capture_output=True, text=True, check=True
    ).stdout
    assert GRAMMAR.read_text(encoding="utf-8") == generated, (
        "regenerate: python -m inceptgen.textmate > editors/vscode/syntaxes/incept.tmLanguage.json"
    )
    assert json.loads(generated) == grammar()


def test_the_manifest_declares_the_language_grammar_and_server() -> None:
    manifest = load("package.json")
    (language,) = manifest["contributes"]["languages"]
    (syntax,) = manifest["contributes"]["grammars"]
    assert language["id"] == syntax["language"] == "incept" and language["extensions"] == [".incept"]
    assert syntax["scopeName"] == SCOPE == load(syntax["path"])["scopeName"]
    assert (VSCODE / language["configuration"]).is_file() and (VSCODE / manifest["main"]).is_file()
    assert "onLanguage:incept" in manifest["activationEvents"]
    settings = manifest["contributes"]["configuration"]["properties"]
    assert settings["inceptgen.server.command"]["default"] == "inceptgen"
    assert settings["inceptgen.server.args"]["default"] == ["lsp"]
    assert "vscode-languageclient" in manifest["dependencies"]


def test_the_client_starts_the_configured_server_over_stdio() -> None:
    source = (VSCODE / "extension.js").read_text(encoding="utf-8")
    assert 'require("vscode-languageclient/node")' in source and "TransportKind.stdio" in source
    for key in ("server.command", "server.args"):
        assert f'config.get("{key}"' in source, key
    assert re.search(r"language: \"incept\"", source) and "module.exports = { activate, deactivate }" in source


def test_the_server_accepts_the_flag_the_client_adds() -> None:
    result = subprocess.run([sys.executable, "-m", "inceptgen", "lsp", "--stdio", "--help"], capture_output=True)
    assert result.returncode == 0 and b"--stdio" in result.stdout


def test_language_configuration_patterns_compile() -> None:
    config = load("language-configuration.json")
    assert config["comments"]["lineComment"] == "#"
    for pattern in (*config["indentationRules"].values(), config["wordPattern"]):
        re.compile(pattern)
    increase = re.compile(config["indentationRules"]["increaseIndentPattern"])
    assert increase.match("stage s {") and increase.match("block b(c) {  # why") and not increase.match("a { b }")


# ------------------------------------------------------------------ the grammar's scopes


def scopes(text: str) -> dict[int, str]:
    """Offset -> scope of every match of the grammar on `text`, line by line, as TextMate matches."""
    rules = [(re.compile(rule["match"]), rule) for rule in grammar()["patterns"]]
    found: dict[int, str] = {}
    offset = 0
    for line in text.split("\n"):
        pos = 0
        while pos < len(line):
            best = None
            for pattern, rule in rules:
                match = pattern.search(line, pos)
                if match and match.end() > match.start() and (best is None or match.start() < best[0].start()):
                    best = (match, rule)
            if best is None:
                break
            match, rule = best
            if "captures" in rule:
                for group, capture in rule["captures"].items():
                    found[offset + match.start(int(group))] = capture["name"]
            else:
                found[offset + match.start()] = rule["name"]
            pos = match.end()
        offset += len(line) + 1
    return found


#: The parser's token types and the scope each must get.
EXPECTED = {
    "SIZE": "constant.numeric.size.incept",
    "FLOAT": "constant.numeric.float.incept",
    "INT": "constant.numeric.integer.incept",
    "STRING": "string.quoted.double.incept",
    "OPTION_KEY": "variable.parameter.option.incept",
}


@pytest.mark.parametrize("path", SPECS, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_grammar_scopes_every_token_as_the_parser_reads_it(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    found = scopes(text)
    for tok in _parser().parse_interactive(text).iter_parse():
        got = found.get(tok.start_pos)
        if tok.type == "_NL":
            if "#" in str(tok):
                assert found.get(tok.start_pos + str(tok).index("#")) == "comment.line.number-sign.incept", tok
            continue
        assert got is not None, f"{path.name}: {tok!r} at {tok.line}:{tok.column} has no scope"
        if tok.type in EXPECTED:
            assert got == EXPECTED[tok.type], (tok, got)
        elif tok.type != "NAME" and str(tok) in lexicon.GRAMMAR_WORDS:
            assert got.startswith(("keyword.", "storage.type", "constant.language")), (tok, got)
        elif tok.type == "NAME" and str(tok) in OPS:
            assert got in ("support.function.layer.incept", "entity.name.type.incept"), (tok, got)


def test_every_layer_keyword_option_and_flag_has_its_scope() -> None:
    for words, scope in (
        (lexicon.LAYERS, "support.function.layer.incept"),
        (lexicon.OPTIONS, "variable.parameter.option.incept"),
        (lexicon.FLAGS, "constant.other.flag.incept"),
    ):
        for word in words:
            assert scopes(f"{word} x") == {0: scope, len(word) + 1: "variable.other.incept"}, word
    assert scopes("convolution conv_2") == {0: "variable.other.incept", 12: "variable.other.incept"}
