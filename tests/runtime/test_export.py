"""`inceptgen export`: ONNX, torch.export and .keras files that compute what the builds compute.

The specs that between them use every construct of the library, from the stdlib and the parity
trap specs (tests/runtime/constructs.py; an ONNX export costs 1-40 s here, so the other specs,
made of the same layers, are left out), go to ONNX with a dynamic batch, with and without
`--optimize`, from a checkpoint with random weights and random batch-norm statistics; the test
checks the file itself (onnx.checker, the symbolic batch dimension) and runs it in onnxruntime on
a batch size the exporter never saw, against the plain PyTorch build with the same weights, at a
relative tolerance of 1e-5. Bad input exits 2
with one line and leaves the output alone.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import inceptgen
from inceptgen import cli
from inceptgen.runtime.export import ExportError, ExportMismatchError, export_model
from inceptgen.runtime.export import formats as export_formats
from inceptgen.runtime.parity import compare, randomize_batchnorm
from tests.runtime.constructs import covering_specs, spec_id

ROOT = Path(__file__).resolve().parents[2]

#: the smallest convenient input each spec checks at (inception_v3_aux's aux head needs its
#: 17x17 grid, so 299 only); the others keep their own input
INPUTS = {
    "bn_inception": "3x64x64",
    "googlenet": "3x80x80",
    "googlenet_d2l": "1x32x32",
    "googlenet_torchvision": "3x32x32",
    "inception_resnet_v1": "3x75x75",
    "inception_resnet_v2": "3x75x75",
    "inception_v3": "3x75x75",
    "inception_v3_cifar": "3x16x16",
    "inception_v3_cifar_slim": "3x8x8",
    "inception_v3_cifar_slim352": "3x8x8",
    "inception_v4": "3x75x75",
    "mobilenet_v2": "3x64x64",
    "naive_module": "3x16x16",
    "shufflenet_v2_x1_0": "3x64x64",
}

TOL = 1e-5
runner = CliRunner()


def load(ref: str) -> inceptgen.Spec:
    """A stdlib spec by name (at its `INPUTS` size) or any spec by reference (a trap spec's path)."""
    if ref.endswith(".incept"):
        return inceptgen.load(ref)
    name = ref.removeprefix("@")
    return inceptgen.load(f"@{name}", overrides={"input": INPUTS[name]} if name in INPUTS else None)


def torch_checkpoint(spec: inceptgen.Spec, path: Path, seed: int = 0):
    """Random weights and batch-norm statistics saved as a state dict; returns the model (eval mode)."""
    import torch

    torch.manual_seed(seed)
    model = spec.to_torch()
    randomize_batchnorm(model, torch.Generator().manual_seed(seed))
    torch.save(model.state_dict(), path)
    return model.eval()


def torch_out(model, x: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


def batch(spec: inceptgen.Spec, n: int, seed: int = 7) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, *spec.checked.input_shape), dtype=np.float32)


# --------------------------------------------------------------------------- ONNX, every construct


@pytest.mark.parametrize("optimize", [False, True], ids=["plain", "optimize"])
@pytest.mark.parametrize("ref", covering_specs(), ids=spec_id)
def test_onnx_matches_pytorch(tmp_path: Path, ref: str, optimize: bool, record_property) -> None:
    import onnx
    import onnxruntime as ort

    spec, name = load(ref), spec_id(ref)
    reference = torch_checkpoint(spec, tmp_path / "model.pt")
    out = tmp_path / f"{name}.onnx"
    report = export_model(
        spec, "onnx", out, checkpoint=tmp_path / "model.pt", dynamic_batch=True, optimize=optimize, tol=TOL
    )
    proto = onnx.load(out)
    onnx.checker.check_model(proto, full_check=True)
    (graph_input,) = proto.graph.input
    batch_dim = graph_input.type.tensor_type.shape.dim[0]
    assert batch_dim.dim_param and not batch_dim.dim_value, batch_dim  # symbolic, not fixed
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    x = batch(spec, 2)  # the export traced batch 2 and checked 1 and 3; run 2 with other data
    (got,) = session.run(None, {"input": x})
    diff = compare("main", torch_out(reference, x), got)
    assert got.shape == (2, *spec.checked.outputs["main"])
    assert diff.max_rel <= TOL and diff.scale > 0, diff
    assert report.max_rel <= TOL and report.opset == proto.opset_import[0].version
    record_property(
        "figure",
        f"export onnx {name} {spec.checked.input_shape} {'optimize' if optimize else 'plain'}: "
        f"max rel {diff.max_rel:.1e} (onnxruntime vs PyTorch), export {report.seconds:.1f} s, "
        f"{report.size / 1e6:.1f} MB",
    )


def test_onnx_static_batch_and_opset(tmp_path: Path) -> None:
    import onnx

    spec = load("googlenet_d2l")
    report = export_model(spec, "onnx", tmp_path / "m.onnx", opset=21)
    proto = onnx.load(tmp_path / "m.onnx")
    assert [o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")] == [21]
    assert report.opset == 21 and report.batches == (1,)
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_value == 1


@pytest.mark.slow
def test_onnx_from_a_keras_checkpoint(tmp_path: Path) -> None:
    """Keras weights are converted by layer name; the ONNX file then matches the PyTorch build of them."""
    import onnxruntime as ort

    from inceptgen.runtime.convert import convert_checkpoint

    spec = load("inception_v3")
    reference = torch_checkpoint(spec, tmp_path / "model.pt", seed=3)
    convert_checkpoint(spec, "torch", "keras", tmp_path / "model.pt", tmp_path / "model.weights.h5")
    export_model(spec, "onnx", tmp_path / "k.onnx", checkpoint=tmp_path / "model.weights.h5", optimize=True)
    x = batch(spec, 1)
    (got,) = ort.InferenceSession(str(tmp_path / "k.onnx"), providers=["CPUExecutionProvider"]).run(None, {"input": x})
    assert compare("main", torch_out(reference, x), got).max_rel <= TOL


# --------------------------------------------------------------------------- torch.export and .keras


@pytest.mark.parametrize(
    # shufflenet's channel shuffle reshapes with the batch dimension, which must stay symbolic
    ("name", "optimize"),
    [("googlenet", False), ("shufflenet_v2_x1_0", False), ("inception_v3", True)],
)
def test_torch_export_reloads_with_a_dynamic_batch(tmp_path: Path, name: str, optimize: bool) -> None:
    import torch

    spec = load(name)
    reference = torch_checkpoint(spec, tmp_path / "model.pt")
    out = tmp_path / "m.pt2"
    export_model(spec, "torch-export", out, checkpoint=tmp_path / "model.pt", dynamic_batch=True, optimize=optimize)
    program = torch.export.load(out)
    assert isinstance(program, torch.export.ExportedProgram)
    x = batch(spec, 5)  # neither the traced batch (2) nor the checked ones (1, 3)
    with torch.no_grad():
        got = program.module()(torch.from_numpy(x)).numpy()
    assert compare("main", torch_out(reference, x), got).max_rel <= TOL


@pytest.mark.slow
@pytest.mark.parametrize(("name", "custom"), [("mobilenet_v2", ()), ("googlenet", ("LocalResponseNorm", "Pad2D"))])
def test_keras_file_from_a_torch_checkpoint_loads_in_safe_mode_in_a_new_process(
    tmp_path: Path, name: str, custom: tuple[str, ...]
) -> None:
    """A fresh interpreter loads the .keras file with safe_mode=True and gets the PyTorch build's outputs.

    A model with inceptgen's own layers (GoogLeNet's LRNs, and its ceil-mode pooling that pads with Pad2D)
    needs the generated Keras module imported first, as the report says; without them (MobileNet v2's
    convs, depthwise convs, batch-norms, ReLU6s and residual adds are all Keras' own) the file stands alone
    (inceptgen is never imported).
    """
    spec = load(name)
    reference = torch_checkpoint(spec, tmp_path / "model.pt")
    report = export_model(spec, "keras", tmp_path / "m.keras", checkpoint=tmp_path / "model.pt")
    assert report.dynamic_batch and report.batches == (1, 3)
    assert report.custom_layers == custom
    assert ("inceptgen compile SPEC --target keras" in report.line()) == bool(custom)
    (tmp_path / "generated_keras.py").write_text(spec.source("keras"))
    x = batch(spec, 2)
    np.save(tmp_path / "x.npy", x.transpose(0, 2, 3, 1))
    code = f"""
import numpy as np, keras, sys
if {bool(custom)}:
    import generated_keras  # registers inceptgen's layers
model = keras.models.load_model("m.keras", safe_mode=True)
out = model(np.load("x.npy"), training=False)
np.save("y.npy", np.asarray(out[0] if isinstance(out, (list, tuple)) else out))
assert not any(m.startswith("inceptgen") for m in sys.modules)
"""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    got = np.load(tmp_path / "y.npy")
    # across frameworks: the tolerance of the parity tests
    assert compare("main", torch_out(reference, x), got).max_rel <= 1e-4


def test_optimised_keras_file_from_a_torch_checkpoint(tmp_path: Path) -> None:
    """`--optimize` writes the inference graph (batch-norms folded, 1x1 convs fused) with the checkpoint's weights."""
    import keras

    spec = load("inception_v3")
    reference = torch_checkpoint(spec, tmp_path / "model.pt")
    report = export_model(spec, "keras", tmp_path / "m.keras", checkpoint=tmp_path / "model.pt", optimize=True)
    assert report.optimized and report.custom_layers == ("ChannelSplit",) and report.max_rel <= TOL
    model = keras.models.load_model(tmp_path / "m.keras", safe_mode=True)  # ChannelSplit: registered here
    names = [layer.name for layer in model.layers]
    assert not any(n.endswith("-bn") for n in names) and any(n.endswith("_fused_1x1-split") for n in names)
    x = batch(spec, 2)
    got = np.asarray(model(x.transpose(0, 2, 3, 1), training=False))
    assert compare("main", torch_out(reference, x), got).max_rel <= 1e-4


# --------------------------------------------------------------------------- the command and its errors


def invoke(*args: object):
    return runner.invoke(cli.app, [str(a) for a in args])


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """cifar_mini's weights in both frameworks (`own_pt`, `own_h5`), and another spec's (`other_pt`, `other_h5`)."""
    from inceptgen.runtime.convert import convert_checkpoint

    folder = tmp_path_factory.mktemp("checkpoints")
    out = {}
    for key, name in (("own", "cifar_mini"), ("other", "googlenet_d2l")):
        spec = load(name)
        torch_checkpoint(spec, folder / f"{name}.pt")
        convert_checkpoint(spec, "torch", "keras", folder / f"{name}.pt", folder / f"{name}.weights.h5")
        out[f"{key}_pt"], out[f"{key}_h5"] = folder / f"{name}.pt", folder / f"{name}.weights.h5"
    (folder / "weights.bin").write_bytes(b"?")
    out["odd"] = folder / "weights.bin"
    return out


def test_export_command_writes_the_default_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, checkpoints) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke(
        "export", "@cifar_mini", "--format", "onnx", "--dynamic-batch", "--checkpoint", checkpoints["own_h5"]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "cifar_mini.onnx").is_file()
    assert result.stderr.startswith("wrote cifar_mini.onnx: ONNX opset ")
    assert "onnxruntime" in result.stderr and "dynamic batch" in result.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--format", "onnx", "--checkpoint", "{other_pt}"], "does not fit this spec: "),
        (["--format", "onnx", "--checkpoint", "{other_h5}"], "does not fit this spec"),
        (["--format", "keras", "--checkpoint", "{other_pt}"], "does not fit this spec: "),
        (["--format", "keras", "--checkpoint", "{other_h5}"], "does not fit this spec"),
        (["--format", "onnx", "--checkpoint", "{odd}"], "cannot tell the framework of checkpoint"),
        (["--format", "onnx", "--checkpoint", "{tmp}/none.pt"], "no checkpoint file"),
        (["--format", "onnx", "--opset", "7"], "--opset 7: torch.onnx cannot express this model in opset 7"),
        (["--format", "onnx", "--opset", "99"], "--opset 99: onnx "),
        (["--format", "keras", "--opset", "18"], "--opset applies to --format onnx only"),
        (["--format", "keras", "-o", "{tmp}/m.h5"], "a Keras model file must end in .keras"),
        (["--format", "onnx", "-o", "{tmp}/old.onnx"], "refusing to overwrite"),
    ],
)
def test_bad_input_exits_2_in_one_line(tmp_path: Path, checkpoints, args: list[str], needle: str) -> None:
    (tmp_path / "old.onnx").write_text("old")
    fill = {**{k: str(v) for k, v in checkpoints.items()}, "tmp": str(tmp_path)}
    args = [a.format(**fill) for a in args]
    if "-o" not in args:
        args += ["-o", str(tmp_path / "out.file.keras")] if "keras" in args else ["-o", str(tmp_path / "out.onnx")]
    result = invoke("export", "@cifar_mini", *args)
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and needle in line, line
    assert (tmp_path / "old.onnx").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.onnx"]  # nothing else written, no temporary left


@pytest.mark.parametrize("module", ["onnx", "onnxruntime", "onnxscript"])
def test_missing_export_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, module: str) -> None:
    # The others imported first, as in a process that has them: onnxscript itself imports onnx,
    # so which are named otherwise depends on what this worker's earlier tests imported.
    for other in ("onnx", "onnxruntime", "onnxscript"):
        importlib.import_module(other)
    monkeypatch.setitem(sys.modules, module, None)  # `import module` now raises ImportError
    result = invoke("export", "@cifar_mini", "--format", "onnx", "-o", tmp_path / "m.onnx")
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.strip().splitlines()
    assert line == f"error: --format onnx needs {module}, which is not installed: pip install 'inceptgen[export]'"
    assert not (tmp_path / "m.onnx").exists()


def test_missing_onnx_names_what_cannot_import_without_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A process without onnx cannot import onnxscript either (it imports onnx).
    for name in [m for m in sys.modules if m == "onnx" or m.startswith(("onnx.", "onnxscript"))]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "onnx", None)
    result = invoke("export", "@cifar_mini", "--format", "onnx", "-o", tmp_path / "m.onnx")
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.strip().splitlines()
    assert line == (
        "error: --format onnx needs onnx, onnxscript, which are not installed: pip install 'inceptgen[export]'"
    )


def test_mismatch_exits_1_and_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file that runs but computes something else never replaces the output."""
    real = export_formats._run_pt2

    def off_by_one(path: Path, inputs: list[np.ndarray]):
        outs, checker = real(path, inputs)
        return [o + 1 for o in outs], checker

    monkeypatch.setattr(export_formats, "_run_pt2", off_by_one)
    out = tmp_path / "m.pt2"
    out.write_text("old")
    result = invoke("export", "@cifar_mini", "--format", "torch-export", "-o", out, "--force")
    assert result.exit_code == 1, result.output
    assert "torch.export.load gives outputs" in result.stderr and "not written" in result.stderr
    assert out.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt2"]
    with pytest.raises(ExportMismatchError):
        export_model(load("cifar_mini"), "torch-export", tmp_path / "n.pt2")


def test_force_replaces_atomically(tmp_path: Path) -> None:
    out = tmp_path / "m.onnx"
    out.write_text("old")
    result = invoke("export", "@naive_module", "--set", "input=3x16x16", "--format", "onnx", "-o", out, "--force")
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 100_000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]


def test_unknown_format_from_the_api() -> None:
    with pytest.raises(ExportError, match="unknown export format 'tflite'"):
        export_model(load("cifar_mini"), "tflite")


def test_export_help_has_an_example() -> None:
    result = runner.invoke(cli.build_app(), ["export", "--help"])
    assert result.exit_code == 0
    assert "Example: inceptgen export" in " ".join(result.stdout.split())


def test_export_listed_in_the_cli_and_runs_as_a_process(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "inceptgen.cli", "export", "@cifar_mini", "--format", "torch-export", "-o", "c.pt2"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr and (tmp_path / "c.pt2").is_file()
