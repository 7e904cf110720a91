"""`inceptgen diagram`: the container tree, the drawn graph, SVG/PNG/DOT/Mermaid output and the command.

Every stdlib spec is drawn to SVG by Graphviz's `dot` (CI installs it) and parsed as XML;
each stage, block instance and aux head must be named in it. The structure tests read the
format-free `Diagram` model, so they say what is drawn without depending on Graphviz.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

import inceptgen
from inceptgen import cli
from inceptgen.diagram import build_diagram, render_diagram
from inceptgen.diagram.graph import Diagram, Node
from inceptgen.diagram.mermaid import to_mermaid
from inceptgen.diagram.tree import Item, build_tree
from inceptgen.errors import InceptgenError
from inceptgen.stdlib import list_specs

ROOT = Path(__file__).resolve().parents[1]
SVG = "{http://www.w3.org/2000/svg}"

#: every container construct: repeats of a block and of a plain body, named and
#: explicitly named branches, an empty branch, a residual with a scale, an aux head
MIXED = """\
model mixed(classes = 10, input = 3x32x32)
block unit(c) { conv 3x3 -> c relu }
stage s {
  conv 1x1 -> 16
  repeat 2 { unit(16) }
  repeat 2 as down { conv 3x3 -> 16 stride 2 relu; identity }
  concat {
    branch { conv 1x1 -> 4 as red; conv 3x3 -> 4 }
    branch pool { maxpool 3x3 stride 1 pad 1 }
    branch { }
    branch { relu }
  }
  residual 0.5 { conv 1x1 -> 52 }
}
stage t { conv 3x3 -> 8 stride 2 }
head { global_avgpool; linear -> classes }
aux early after s weight 0.4 { global_avgpool; linear -> classes }
"""

runner = CliRunner()


@pytest.fixture(scope="module")
def mixed() -> inceptgen.Spec:
    return inceptgen.load(MIXED)


def svg_text(data: bytes) -> tuple[ET.Element, list[str], list[str]]:
    """The parsed SVG, all its text lines, and all its <title>s (Graphviz names nodes and clusters there)."""
    root = ET.fromstring(data)
    texts = [t.text or "" for t in root.iter(f"{SVG}text")]
    titles = [t.text or "" for t in root.iter(f"{SVG}title")]
    return root, texts, titles


def by_id(diagram: Diagram) -> dict[str, Node]:
    return {n.id: n for n in diagram.nodes()}


def inputs_of(diagram: Diagram, node_id: str) -> list[str]:
    return [e.src for e in diagram.edges if e.dst == node_id and not e.skip]


# --------------------------------------------------------------------------- every stdlib spec


@pytest.mark.parametrize("name", list_specs())
def test_every_stdlib_spec_renders_valid_svg_naming_stages_and_blocks(name: str) -> None:
    spec = inceptgen.load(f"@{name}")
    root, texts, titles = svg_text(render_diagram(spec, "svg"))
    assert root.tag == f"{SVG}svg"
    joined = "\n".join(texts)
    for stage in spec.model.stages:
        assert f"stage {stage.name} ·" in joined, stage.name
        assert f"cluster_{stage.name}" in titles
    for aux in spec.model.auxes:
        assert f"aux {aux.name} · after {aux.after}" in joined
    blocks = [n for n in spec.checked.nodes if n.op.startswith("block:")]
    assert blocks or name == "naive_module"
    for node in blocks:
        leaf, block = node.path.rpartition(".")[2], node.op.partition(":")[2]
        assert f"cluster_{node.path}" in titles, node.path
        title = block if leaf == block else f"{leaf}: {block}"
        assert any(t.startswith(f"{title} · ") for t in texts), node.path
    # every layer is drawn once, under its own path, with its output shape
    layers = [n for n in spec.checked.nodes if not n.is_container]
    assert {n.path for n in layers} <= set(titles)
    shapes = {"x".join(map(str, n.out_shape)) for n in layers}
    assert shapes <= set(texts)


def _with_concats() -> list[str]:
    return [n for n in list_specs() if any(i.op == "concat" for i in inceptgen.load(f"@{n}").checked.nodes)]


@pytest.mark.parametrize("name", _with_concats())
def test_concat_branches_are_recovered(name: str) -> None:
    """Grouped by name and shape, each branch reads the concat's input and the widths add up."""
    concats = [
        item
        for top in build_tree(inceptgen.load(f"@{name}").checked.nodes)
        for item in top.descendants()
        if item.op == "concat"
    ]
    assert concats
    for concat in concats:
        widths = 0
        for branch in concat.children:
            assert branch.kind in ("branch", "identity")
            if branch.kind == "identity":
                widths += concat.info.in_shape[0]
                continue
            first, last = branch.children[0].info, branch.children[-1].info
            assert first.in_shape == concat.info.in_shape, first.path
            for a, b in zip(branch.children, branch.children[1:], strict=False):
                assert a.info.out_shape == b.info.in_shape, (a.info.path, b.info.path)
            widths += last.out_shape[0]
        assert widths == concat.info.out_shape[0], concat.info.path


@pytest.mark.parametrize("name", list_specs())
def test_mermaid_is_well_formed(name: str) -> None:
    text = render_diagram(inceptgen.load(f"@{name}"), "mermaid", depth=2)
    lines = text.splitlines()
    assert lines[1] == "flowchart TB"
    defined = re.findall(r"^\s*(n\d+)[\[\(\{]", text, flags=re.MULTILINE)
    assert len(defined) == len(set(defined))
    for src, dst in re.findall(r"^\s*(n\d+) -\.?-?> (n\d+)$", text, flags=re.MULTILINE):
        assert src in defined and dst in defined
    opened = sum(1 for line in lines if line.strip().startswith("subgraph "))
    assert opened == sum(1 for line in lines if line.strip() == "end") > 0
    for label in re.findall(r'"([^"\n]*)"', text):
        assert "<" not in label.replace("<br/>", ""), label


# --------------------------------------------------------------------------- structure


def test_branches_empty_and_named_and_explicit_names_in_order(mixed: inceptgen.Spec) -> None:
    diagram = build_diagram(mixed)
    # the concat reads: branch 0 (red -> conv), the named branch `pool`, the empty
    # branch (the concat's input itself, the repeat's last layer) and branch 3 in spec order
    assert inputs_of(diagram, "s.concat") == ["s.branch0_conv", "s.pool_maxpool", "s.down.1.identity", "s.branch3_relu"]
    assert inputs_of(diagram, "s.branch0_conv") == ["s.red"]
    assert diagram.rows == [["s.red", "s.pool_maxpool", "s.branch3_relu"]]
    assert by_id(diagram)["s.concat"].lines == ["concat", "52x8x8"]


def test_residual_sum_has_a_skip_edge_and_its_scale(mixed: inceptgen.Spec) -> None:
    diagram = build_diagram(mixed)
    add = by_id(diagram)["s.residual"]
    assert add.kind == "add" and add.lines == ["+ ×0.5", "52x8x8"]
    skips = [(e.src, e.dst) for e in diagram.edges if e.skip]
    assert skips == [("s.concat", "s.residual")]
    assert inputs_of(diagram, "s.residual") == ["s.conv2"]


def test_aux_head_taps_its_stage_and_has_its_own_output(mixed: inceptgen.Spec) -> None:
    diagram = build_diagram(mixed)
    assert inputs_of(diagram, "early.global_avgpool") == ["s.residual"]
    assert inputs_of(diagram, "@output.early") == ["early.linear"]
    assert inputs_of(diagram, "@output.main") == ["head.linear"]
    assert by_id(diagram)["@output.early"].lines == ["output early", "10"]
    (aux,) = [c for c in diagram.clusters() if c.kind == "aux"]
    assert aux.label == "aux early · after s · 10"


def test_repeat_copies_are_clusters_even_at_their_parents_depth(mixed: inceptgen.Spec) -> None:
    """A plain repeat copy's layers sit at the copy's own depth in `checked.nodes`: paths place them."""
    labels = [c.label for c in build_diagram(mixed).clusters()]
    assert "repeat x2: unit · 16x32x32" in labels
    assert "0: unit · 16x32x32" in labels
    assert [lab for lab in labels if lab.startswith("copy")] == ["copy 0 · 16x16x16", "copy 1 · 16x8x8"]
    (down,) = [c for c in build_diagram(mixed).clusters() if c.id == "cluster_s.down"]
    assert [c.id for c in down.items] == ["cluster_s.down.0", "cluster_s.down.1"]


@pytest.mark.parametrize(
    ("depth", "collapsed"),
    [
        (0, ["s", "t", "head", "early"]),
        (1, ["s.repeat", "s.down"]),
        (2, ["s.repeat.0", "s.repeat.1", "s.down.0", "s.down.1"]),
        (3, []),
        (None, []),
    ],
)
def test_depth_collapses_containers(mixed: inceptgen.Spec, depth: int | None, collapsed: list[str]) -> None:
    diagram = build_diagram(mixed, depth=depth)
    assert [n.id for n in diagram.nodes() if n.kind == "collapsed"] == collapsed
    # a collapsed container is one node: nothing inside it is drawn
    for node_id in collapsed:
        assert not any(n.id.startswith(node_id + ".") for n in diagram.nodes())


def test_collapsed_nodes_are_named_and_count_parameters() -> None:
    spec = inceptgen.load("@googlenet")
    nodes = by_id(build_diagram(spec, depth=1, params=True))
    assert nodes["inception3.inception_3a"].lines == ["inception_3a: inception", "256x28x28", "163,696 params"]
    stages = by_id(build_diagram(spec, depth=0, params=True))
    counts = [int(n.lines[-1].split()[0].replace(",", "")) for n in stages.values() if n.kind == "collapsed"]
    assert sum(counts) == spec.checked.total_params
    assert stages["stem"].lines[:2] == ["stage stem", "192x28x28"]


def test_layer_labels_show_kernel_stride_and_parameters() -> None:
    nodes = by_id(build_diagram(inceptgen.load("@googlenet"), params=True))
    assert nodes["stem.conv1"].lines == ["conv 7x7 /2", "64x112x112", "9,472 params"]
    assert nodes["stem.maxpool1"].lines == ["maxpool 3x3 /2", "64x56x56"]
    assert nodes["head.dropout"].lines == ["dropout 0.4", "1024"]
    assert build_diagram(inceptgen.load("@inception_v3")).title == "inception_v3"


# --------------------------------------------------------------------------- nodes the checker does not make yet


@dataclass
class FakeNode:
    """The public face of `NodeInfo`, for ops the checker does not produce yet."""

    path: str
    op: str
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    depth: int
    params: int = 0
    macs: int = 0
    values: dict = field(default_factory=dict)

    @property
    def is_container(self) -> bool:
        return self.op in ("stage", "concat", "branch", "gate", "shortcut")


def fake_spec(nodes: list[FakeNode]) -> SimpleNamespace:
    checked = SimpleNamespace(nodes=tuple(nodes), outputs={"main": nodes[0].out_shape}, input_shape=(3, 8, 8))
    model = SimpleNamespace(name="fake", stages=[SimpleNamespace(name="s")], auxes=[])
    return SimpleNamespace(checked=checked, model=model)


def test_explicit_branch_nodes_and_unknown_containers_are_drawn() -> None:
    """Future checker output: `branch` nodes inside a concat, an unknown `gate` container, an empty branch."""
    s = (3, 8, 8)
    spec = fake_spec(
        [
            FakeNode("s", "stage", s, (9, 8, 8), 0),
            FakeNode("s.concat", "concat", s, (9, 8, 8), 1),
            FakeNode("s.b0", "branch", s, (4, 8, 8), 2),
            FakeNode("s.b0_conv", "conv", s, (4, 8, 8), 3, params=16),
            FakeNode("s.b1", "branch", s, (3, 8, 8), 2),
            FakeNode("s.b2", "branch", s, (2, 8, 8), 2),
            FakeNode("s.b2_gate", "gate", s, (2, 8, 8), 3),
            FakeNode("s.b2_gate.conv", "conv", s, (2, 8, 8), 4, params=8),
        ]
    )
    diagram = build_diagram(spec, params=True)
    assert inputs_of(diagram, "s.concat") == ["s.b0_conv", "@input", "s.b2_gate.conv"]
    (gate,) = [c for c in diagram.clusters() if c.kind == "container"]
    assert gate.label == "b2_gate (gate) · 2x8x8 · 8 params"
    root, _, titles = svg_text(render_diagram(spec, "svg"))
    assert "cluster_s.b2_gate" in titles
    assert '"b2_gate (gate)<br/>2x8x8"' in to_mermaid(build_diagram(spec, depth=1))
    assert [i.kind for i in build_tree(spec.checked.nodes)[0].children[0].children] == ["container"] * 3


def test_tree_item_of_a_layer_has_no_children() -> None:
    item = Item(FakeNode("s.conv", "conv", (1,), (1,), 1), "layer")
    assert list(item.descendants()) == [] and item.op == "conv"


# --------------------------------------------------------------------------- the command


def invoke(*args: object):
    return runner.invoke(cli.app, [str(a) for a in args])


@pytest.mark.parametrize(
    ("suffix", "check"),
    [
        (".svg", lambda data: ET.fromstring(data).tag == f"{SVG}svg"),
        (".png", lambda data: data.startswith(b"\x89PNG\r\n\x1a\n")),
        (".dot", lambda data: data.startswith(b"digraph cifar_mini {")),
        (".gv", lambda data: b"subgraph cluster_stem" in data),
        (".mmd", lambda data: data.splitlines()[1] == b"flowchart TB"),
    ],
)
def test_diagram_writes_each_format(tmp_path: Path, suffix: str, check) -> None:
    out = tmp_path / f"d{suffix}"
    result = invoke("diagram", "@cifar_mini", "-o", out, "--params")
    assert result.exit_code == 0, result.output
    assert check(out.read_bytes())
    assert f"wrote {out}" in result.stderr


def test_dot_text_renders_with_graphviz(tmp_path: Path) -> None:
    out = tmp_path / "v3.dot"
    assert invoke("diagram", "@inception_v3_aux", "-o", out, "--depth", "2").exit_code == 0
    svg = subprocess.run(["dot", "-Tsvg", str(out)], capture_output=True, check=True).stdout
    _, texts, _ = svg_text(svg)
    assert "aux aux_logits · after mixed_17x17 · 1000" in texts


def test_diagram_to_stdout_and_format_override(tmp_path: Path) -> None:
    result = invoke("diagram", "@naive_module", "-o", "-", "--format", "mermaid")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1] == "flowchart TB"
    out = tmp_path / "odd.name"
    assert invoke("diagram", "@naive_module", "-o", out, "--format", "dot").exit_code == 0
    assert out.read_text().startswith("digraph naive_module")


@pytest.mark.parametrize(
    ("args", "needle", "lines"),
    [
        (["-o", "{tmp}/d.txt"], "error: cannot tell the diagram format of", 1),
        (["-o", "-", "--format", "png"], "error: PNG is binary", 1),
        (["-o", "{tmp}/exists.svg"], "error: refusing to overwrite", 1),
        (["-o", "{tmp}/no/such/dir.svg"], "error: cannot write", 2),  # inceptgen.output adds a hint
        (["-o", "{tmp}/d.svg", "--depth", "-1"], "-1", None),  # Typer's usage box
    ],
)
def test_diagram_user_errors_exit_2(tmp_path: Path, args: list[str], needle: str, lines: int | None) -> None:
    (tmp_path / "exists.svg").write_text("old")
    result = invoke("diagram", "@cifar_mini", *[a.format(tmp=tmp_path) for a in args])
    assert result.exit_code == 2, result.output
    assert needle in result.stderr
    assert "Traceback" not in result.output
    if lines is not None:
        assert len(result.stderr.strip().splitlines()) == lines, result.stderr
    assert (tmp_path / "exists.svg").read_text() == "old"


def test_a_diagram_too_large_to_lay_out_is_refused_before_dot_runs(tmp_path: Path) -> None:
    """Graphviz's layout time grows faster than the graph: 5,000 boxes are refused at once, .dot is still written."""
    spec = tmp_path / "big.incept"
    spec.write_text("model big(classes = 2, input = 3x8x8)\nstage s { repeat 100 { repeat 50 { conv 1x1 -> 4 } } }\n")
    result = invoke("diagram", spec, "-o", tmp_path / "big.svg", "--depth", "9")
    assert result.exit_code == 2, result.output
    boxes = 100 * 50 + 2  # the convs, the input and the output
    assert result.stderr.startswith(f"error: the diagram has {boxes:,} boxes, more than the 2,500"), result.stderr
    assert not (tmp_path / "big.svg").exists()
    assert invoke("diagram", spec, "-o", tmp_path / "big.dot", "--depth", "9").exit_code == 0
    assert invoke("diagram", spec, "-o", tmp_path / "small.svg", "--depth", "1").exit_code == 0


def test_diagram_force_replaces(tmp_path: Path) -> None:
    out = tmp_path / "d.svg"
    out.write_text("old")
    assert invoke("diagram", "@cifar_mini", "-o", out, "--force").exit_code == 0
    assert ET.fromstring(out.read_bytes()).tag == f"{SVG}svg"


def run_without_dot(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI in a process whose PATH has no `dot` (only this interpreter's folder)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PATH": str(bin_dir)}
    return subprocess.run(
        [sys.executable, "-m", "inceptgen.cli", *args], capture_output=True, text=True, env=env, cwd=tmp_path
    )


@pytest.mark.parametrize("suffix", [".svg", ".png"])
def test_svg_and_png_without_dot_say_how_to_install_it(tmp_path: Path, suffix: str) -> None:
    done = run_without_dot(tmp_path, "diagram", "@cifar_mini", "-o", f"d{suffix}")
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"error: {suffix[1:].upper()} output needs Graphviz's `dot` program")
    assert "apt-get install -y graphviz" in line
    assert not (tmp_path / f"d{suffix}").exists()


def test_dot_and_mermaid_need_no_program(tmp_path: Path) -> None:
    for name in ("d.dot", "d.mmd"):
        done = run_without_dot(tmp_path, "diagram", "@googlenet", "-o", name)
        assert done.returncode == 0, done.stderr
        assert (tmp_path / name).stat().st_size > 1000


def test_diagram_imports_no_framework(tmp_path: Path) -> None:
    """`diagram` never imports torch, tensorflow or keras, for any format."""
    code = f"""
import sys
from inceptgen.cli import main
for name in ("d.svg", "d.png", "d.dot", "d.mmd"):
    sys.argv = ["inceptgen", "diagram", "@inception_v3_aux", "-o", {str(tmp_path)!r} + "/" + name]
    try:
        main()
    except SystemExit as exit:
        assert exit.code in (0, None), (name, exit.code)
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "tensorflow", "keras"))
assert not heavy, heavy
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert all((tmp_path / n).stat().st_size > 0 for n in ("d.svg", "d.png", "d.dot", "d.mmd"))


def test_diagram_help_has_an_example() -> None:
    result = runner.invoke(cli.build_app(), ["diagram", "--help"])
    assert result.exit_code == 0
    assert "Example: inceptgen diagram" in " ".join(result.stdout.split())


def test_unknown_format_is_a_user_error(mixed: inceptgen.Spec) -> None:
    with pytest.raises(InceptgenError, match="unknown diagram format 'pdf'"):
        render_diagram(mixed, "pdf")


# --------------------------------------------------------------------------- the gallery

GALLERY = ROOT / "docs" / "gallery"


def test_gallery_has_one_current_png_per_family() -> None:
    """docs/gallery holds a PNG for each entry of its script, listed in its README."""
    from PIL import Image

    sys.path.insert(0, str(GALLERY))
    try:
        import make_gallery
    finally:
        sys.path.remove(str(GALLERY))
    readme = (GALLERY / "README.md").read_text()
    assert "python docs/gallery/make_gallery.py" in readme
    for entry in make_gallery.GALLERY:
        png = GALLERY / f"{entry.spec}.png"
        with Image.open(png) as image:
            assert image.format == "PNG" and min(image.size) > 100, png
        assert f"({entry.spec}.png)" in readme
        assert entry.command() in readme
    assert {e.spec for e in make_gallery.GALLERY} <= set(list_specs())
