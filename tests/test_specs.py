"""The spec library (`specs/`): every spec checks, builds in both frameworks and reproduces its figures.

`EXPECTED` is the table of record: one row per top-level spec, with the parameter counts
the spec must give and where each comes from. A new spec without a row fails
`test_every_spec_has_a_row`. Where a reference implementation can be built here (the seed
code rebuilt in `tests/reference/`, `keras.applications` with `weights=None`), the test
builds it and compares its real counts and weight shapes with the generated model's
(`test_generated_model_matches_its_reference`), not only with a number written down. Every
spec's builds are counted against the checker in tests/runtime/test_models.py, which builds
each spec once per framework for its shapes, counts and parity.

Conventions (see notes/architectures.md section 0):

* ``total``: PyTorch's count, ``sum(p.numel() for p in model.parameters())``. Batch-norm
  gamma is always a parameter in PyTorch; with ``noscale`` (Keras' ``scale=False``) it is
  frozen at 1, so ``total`` exceeds ``trainable`` by the number of such channels.
* ``trainable``: the trainable parameters; equal in both frameworks.
* ``keras``: Keras' ``count_params()``, which adds each batch-norm's running mean and
  variance (non-trainable) to ``trainable``, and gamma where it is frozen.
* ``main``: for specs with auxiliary heads, the same three counts without them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

import inceptgen
from inceptgen.stdlib import list_specs
from tests.counting import (
    Counts,
    aux_prefixes,
    checker_counts,
    keras_counts,
    keras_shapes,
    torch_counts,
    torch_shapes,
)

SPECS = Path(__file__).resolve().parent.parent / "specs"


@dataclass(frozen=True)
class Row:
    """What one spec must give, and where the figures come from.

    `headline` is the reference figure the spec's header comment must state.
    """

    counts: Counts
    source: str
    headline: int
    main: Counts | None = None  # without the auxiliary heads

    def with_keras(self, keras: int) -> Row:
        """The same row where Keras also counts batch-norm running statistics (the checker's figure)."""
        return Row(Counts(self.counts.total, self.counts.trainable, keras), self.source, self.headline, self.main)


def _plain(n: int, source: str) -> Row:
    """A network whose PyTorch count is its trainable count; without batch-norm, Keras' too."""
    return Row(Counts(n, n, n), source, n)


EXPECTED: dict[str, Row] = {
    "naive_module": _plain(
        124_384,
        "seed 000's model.summary(); rebuilt by tests/reference/seed000_naive.py (Keras)",
    ),
    "googlenet_d2l": _plain(
        5_977_530,
        "seed 001's d2l code, sum of p.numel(); rebuilt by tests/reference/seed001_googlenet.py",
    ),
    "googlenet": Row(
        Counts(13_378_280, 13_378_280, 13_378_280),
        "main network = seed 001's code with 3 input channels and 1000 classes (6,998,552, rebuilt "
        "by tests/reference/seed001_googlenet.py); aux heads 3,188,840 + 3,190,888 from the paper's "
        "layers (measured in notes/architectures.md section 8)",
        6_998_552,
        main=Counts(6_998_552, 6_998_552, 6_998_552),
    ),
    "googlenet_torchvision": Row(
        # 57 batch-norms, 7,280 channels: Keras adds 2 x 7,280 running statistics.
        Counts(6_624_904, 6_624_904, 6_639_464),
        "torchvision googlenet(aux_logits=False), sum of p.numel(), measured in "
        "notes/architectures.md section 8 (torchvision is not installed here)",
        6_624_904,
    ),
    "bn_inception": Row(
        # 69 batch-norms, 10,016 channels.
        Counts(11_295_240, 11_295_240, 11_315_272),
        "Caffe BN-Inception as ported by Cadene (pretrainedmodels bninception), sum of p.numel(), "
        "measured in notes/architectures.md section 9 (the paper says 13.6M; not reproducible)",
        11_295_240,
    ),
    "inception_v3": Row(
        # Keras scale=False batch-norm: 17,216 channels, gamma frozen in PyTorch.
        Counts(23_834_568, 23_817_352, 23_851_784),
        "keras.applications.InceptionV3(weights=None): count_params and trainable, built in the test",
        23_851_784,
    ),
    "inception_v3_aux": Row(
        Counts(27_161_264, 27_143_152, 27_179_376),
        "main network = keras.applications.InceptionV3(weights=None), built in the test; the aux "
        "head (pool, 1x1 128, 5x5 768, linear) counted from its layers: 3,326,696 / 3,325,800 / 3,327,592",
        23_851_784,
        main=Counts(23_834_568, 23_817_352, 23_851_784),
    ),
    "inception_v3_cifar": Row(
        Counts(23_359_978, 23_359_978, 23_397_866),
        "seed 004's published summary (Inception_v3); rebuilt by "
        "tests/reference/seed004_inception_v3_cifar.py build_keras('full')",
        23_397_866,
    ),
    "inception_v3_cifar_slim": Row(
        Counts(23_192_282, 23_192_282, 23_229_370),
        "seed 004's published summary (Inception_v3_slim); rebuilt by build_keras('slim')",
        23_229_370,
    ),
    "inception_v3_cifar_slim352": Row(
        Counts(21_180_538, 21_180_538, 21_215_770),
        "seed 004's published summary (Inception_v3_slim_352); rebuilt by build_keras('slim352')",
        21_215_770,
    ),
    "inception_v4": Row(
        # 149 batch-norms, 31,584 channels.
        Counts(42_679_816, 42_679_816, 42_742_984),
        "timm inception_v4 layout, sum of p.numel(), measured in notes/architectures.md section 6 "
        "(= the quoted 42.7M; timm is not installed here)",
        42_679_816,
    ),
    "inception_resnet_v1": Row(
        # 111 batch-norms, 14,288 channels.
        Counts(24_357_096, 24_357_096, 24_385_672),
        "facenet-pytorch InceptionResnetV1 layout (5 + 1 block8) with a 1000-class linear head, "
        "sum of p.numel(), measured in notes/architectures.md section 7",
        24_357_096,
    ),
    "inception_resnet_v2": Row(
        # Keras scale=False batch-norm: 30,272 channels, gamma frozen in PyTorch.
        Counts(55_843_464, 55_813_192, 55_873_736),
        "keras.applications.InceptionResNetV2(weights=None): count_params and trainable, built in the test",
        55_873_736,
    ),
    "cifar_mini": Row(
        Counts(354_826, 354_826, 356_042),
        "this spec's own design (no external reference): the checker's figures, held here so that "
        "a change is deliberate; budget under 1 M parameters and 60 M MACs",
        354_826,
    ),
    # ------------------------------------------------------------------ the classic zoo (issue 14)
    # torchvision is not installable on the CPU machines: its figures (torchvision 0.28,
    # weights=None, sum of p.numel()) stand as constants; every Keras figure is built live.
    "resnet18": _plain(11_689_512, "torchvision resnet18(weights=None)").with_keras(11_699_112),
    "resnet50": _plain(25_557_032, "torchvision resnet50(weights=None)").with_keras(25_610_152),
    "resnext50_32x4d": _plain(25_028_904, "torchvision resnext50_32x4d(weights=None)").with_keras(25_097_128),
    "resnet50_keras": Row(
        Counts(25_583_592, 25_583_592, 25_636_712),
        "keras.applications.ResNet50(weights=None), built in the test",
        25_636_712,
    ),
    "resnet50_v2": Row(
        Counts(25_568_360, 25_568_360, 25_613_800),
        "keras.applications.ResNet50V2(weights=None), built in the test",
        25_613_800,
    ),
    "densenet121": Row(
        Counts(7_978_856, 7_978_856, 8_062_504),
        "torchvision densenet121(weights=None): 7,978,856; keras.applications.DenseNet121(weights=None), "
        "built in the test: 8,062,504 / trainable 7,978,856",
        7_978_856,
    ),
    "xception": Row(
        Counts(22_855_952, 22_855_952, 22_910_480),
        "keras.applications.Xception(weights=None), built in the test",
        22_910_480,
    ),
    "mobilenet_v2": Row(
        Counts(3_504_872, 3_504_872, 3_538_984),
        "torchvision mobilenet_v2(weights=None): 3,504,872; keras.applications.MobileNetV2(weights=None), "
        "built in the test: 3,538,984 / trainable 3,504,872",
        3_504_872,
    ),
    "mobilenet_v3_large": _plain(5_483_032, "torchvision mobilenet_v3_large(weights=None)").with_keras(5_507_432),
    "mobilenet_v3_large_keras": Row(
        Counts(5_483_032, 5_483_032, 5_507_432),
        "keras.applications.MobileNetV3Large(weights=None), built in the test",
        5_507_432,
    ),
    "efficientnet_b0": _plain(5_288_548, "torchvision efficientnet_b0(weights=None)").with_keras(5_330_564),
    "efficientnet_b0_keras": Row(
        Counts(5_288_548, 5_288_548, 5_330_571),
        "keras.applications.EfficientNetB0(weights=None), built in the test (B1-B3: EFFICIENTNET_VARIANTS)",
        5_330_571,
    ),
    "squeezenet1_1": _plain(1_235_496, "torchvision squeezenet1_1(weights=None)"),
    "vgg16": _plain(
        138_357_544, "torchvision vgg16(weights=None) = keras.applications.VGG16(weights=None), built in the test"
    ),
    "convnext_tiny": _plain(28_589_128, "torchvision convnext_tiny(weights=None)"),
    "convnext_tiny_keras": _plain(28_589_128, "keras.applications.ConvNeXtTiny(weights=None), built in the test"),
    "shufflenet_v2_x1_0": _plain(2_278_604, "torchvision shufflenet_v2_x1_0(weights=None)").with_keras(2_294_784),
}

#: Budget of the model CI trains (issue 7): small enough for minutes of CPU training.
CIFAR_MINI_MAX_PARAMS = 1_000_000
CIFAR_MINI_MAX_MACS = 60_000_000


# ------------------------------------------------------------------------------ helpers


@cache
def _spec(name: str) -> inceptgen.Spec:
    return inceptgen.load(f"@{name}")  # by name, as users load the library


def _header(name: str) -> list[str]:
    lines = (SPECS / f"{name}.incept").read_text(encoding="utf-8").splitlines()
    header = []
    for line in lines:
        if not line.startswith("#"):
            break
        header.append(line)
    return header


# ------------------------------------------------------------------------------ the table


def test_every_spec_has_a_row() -> None:
    """Every top-level spec is in the table, and every row names an existing spec."""
    on_disk = sorted(p.stem for p in SPECS.glob("*.incept"))
    assert on_disk == sorted(EXPECTED), "add a row to EXPECTED (with its source) for each new spec"
    assert list_specs() == on_disk, "`inceptgen specs` lists exactly the top-level files"


def test_library_files_are_not_listed_specs() -> None:
    """specs/lib/ holds blocks only: no model, and not offered by `inceptgen specs`."""
    libs = sorted((SPECS / "lib").glob("*.incept"))
    assert libs
    for path in libs:
        assert path.stem not in list_specs()
        assert not re.search(r"^\s*(model|stage|head|aux)\b", path.read_text(encoding="utf-8"), re.M), path.name


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_header_names_source_and_figure(name: str) -> None:
    """A one-line description first, then the source and the reference figure, as written."""
    header = _header(name)
    assert len(header) >= 3, "a header comment: description, source, figure"
    first = header[0][1:].strip()
    assert first and len(first) <= 120, "the first line is the one-line description `inceptgen specs` shows"
    text = "\n".join(header)
    assert "Source:" in text
    assert f"{EXPECTED[name].headline:,}" in text, "the header states the reference figure"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_checker_figures_match_the_table(name: str) -> None:
    spec = _spec(name)
    row = EXPECTED[name]
    assert not spec.warnings, spec.warnings
    c = spec.checked
    assert Counts(c.total_params, c.trainable_params, c.keras_params) == row.counts
    if spec.model.auxes:
        assert row.main is not None, "a spec with auxiliary heads gives its figures without them too"
        assert checker_counts(spec, main_only=True) == row.main
    else:
        assert row.main is None


def test_cifar_mini_is_small_and_cheap() -> None:
    c = _spec("cifar_mini").checked
    assert c.outputs["main"] == (10,)
    assert c.input_shape == (3, 32, 32)
    assert c.total_params < CIFAR_MINI_MAX_PARAMS
    assert c.macs < CIFAR_MINI_MAX_MACS


# ------------------------------------------------------------------------------ references


@dataclass(frozen=True)
class Reference:
    """A reference model built in the test, in `framework`; `main_only`: compare without aux heads."""

    framework: str
    build: Callable[[], object]
    main_only: bool = False


def _seed000():
    from tests.reference import seed000_naive

    return seed000_naive.build_keras()


def _seed001(in_channels: int, classes: int):
    def build():
        from tests.reference import seed001_googlenet

        return seed001_googlenet.build_torch(in_channels, classes)

    return build


def _seed004(variant: str):
    def build():
        from tests.reference import seed004_inception_v3_cifar

        return seed004_inception_v3_cifar.build_keras(variant)

    return build


def _keras_app(name: str):
    def build():
        import keras

        return getattr(keras.applications, name)(weights=None)

    return build


REFERENCES: dict[str, Reference] = {
    "naive_module": Reference("keras", _seed000),
    "googlenet_d2l": Reference("torch", _seed001(1, 10)),
    "googlenet": Reference("torch", _seed001(3, 1000), main_only=True),
    "inception_v3": Reference("keras", _keras_app("InceptionV3")),
    "inception_v3_aux": Reference("keras", _keras_app("InceptionV3"), main_only=True),
    "inception_v3_cifar": Reference("keras", _seed004("full")),
    "inception_v3_cifar_slim": Reference("keras", _seed004("slim")),
    "inception_v3_cifar_slim352": Reference("keras", _seed004("slim352")),
    "inception_resnet_v2": Reference("keras", _keras_app("InceptionResNetV2")),
    "resnet50_keras": Reference("keras", _keras_app("ResNet50")),
    "resnet50_v2": Reference("keras", _keras_app("ResNet50V2")),
    "densenet121": Reference("keras", _keras_app("DenseNet121")),
    "xception": Reference("keras", _keras_app("Xception")),
    "mobilenet_v2": Reference("keras", _keras_app("MobileNetV2")),
    "mobilenet_v3_large_keras": Reference("keras", _keras_app("MobileNetV3Large")),
    "efficientnet_b0_keras": Reference("keras", _keras_app("EfficientNetB0")),
    "vgg16": Reference("keras", _keras_app("VGG16")),
    "convnext_tiny_keras": Reference("keras", _keras_app("ConvNeXtTiny")),
}

#: keras.applications' EfficientNet B1-B3 against the variants of efficientnet_b0_keras.
EFFICIENTNET_VARIANTS = {"b1": "EfficientNetB1", "b2": "EfficientNetB2", "b3": "EfficientNetB3"}


@pytest.mark.parametrize("variant", sorted(EFFICIENTNET_VARIANTS))
def test_efficientnet_variants_match_keras_applications(variant: str) -> None:
    spec = inceptgen.load("@efficientnet_b0_keras", variant=variant)
    reference = _keras_app(EFFICIENTNET_VARIANTS[variant])()
    assert spec.checked.input_shape == (3, *reference.input_shape[1:3])
    assert (spec.checked.keras_params, spec.checked.trainable_params) == keras_counts(reference)
    assert keras_shapes(spec.to_keras()) == keras_shapes(reference)


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_generated_model_matches_its_reference(name: str) -> None:
    """Build the reference and the generated model; their real counts and weight shapes agree.

    In the reference's framework: total, trainable and the multiset of weight shapes
    (so the layers agree, not only their sum). For the other framework, the checker's
    trainable count, which tests/runtime/test_models.py holds both builds to (PyTorch's
    total adds frozen gammas, Keras' adds running statistics).
    """
    ref = REFERENCES[name]
    spec = _spec(name)
    skip = aux_prefixes(spec) if ref.main_only else ()
    model = ref.build()
    if ref.framework == "keras":
        ref_counts = keras_counts(model)
        ref_shapes = keras_shapes(model)
        ours = spec.to_keras(aux_outputs=True)
        assert keras_counts(ours, skip) == ref_counts
        assert keras_shapes(ours, skip) == ref_shapes
        assert checker_counts(spec, main_only=ref.main_only).trainable == ref_counts[1]
        expected = EXPECTED[name].main if ref.main_only else EXPECTED[name].counts
        assert (expected.keras, expected.trainable) == ref_counts
    else:
        ref_counts = torch_counts(model)
        ours = spec.to_torch()
        assert torch_counts(ours, skip) == ref_counts
        assert torch_shapes(ours, skip) == torch_shapes(model)
        assert checker_counts(spec, main_only=ref.main_only).trainable == ref_counts[1]
        expected = EXPECTED[name].main if ref.main_only else EXPECTED[name].counts
        assert (expected.total, expected.trainable) == ref_counts
