"""Regenerate docs/gallery: one PNG per family of the spec library, and the README that shows them.

Run from the repository root after changing the diagram renderer, then look at every picture:

    python docs/gallery/make_gallery.py

Each PNG is what `inceptgen diagram @SPEC -o SPEC.png` draws (the README lists the exact
command), reduced to a 64-colour palette with Pillow so the gallery stays small in git.
Needs Graphviz's `dot` and Pillow (`pip install -e '.[all]'`).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import inceptgen
from inceptgen.diagram import render_diagram

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Entry:
    """One picture: a stdlib spec and the `--depth` it is drawn at (None: every layer)."""

    spec: str
    family: str
    depth: int | None = None

    def command(self) -> str:
        depth = "" if self.depth is None else f" --depth {self.depth}"
        return f"inceptgen diagram @{self.spec} -o {self.spec}.png{depth}"


GALLERY = (
    Entry("naive_module", "the naive Inception module (Szegedy et al. 2014, figure 2a)"),
    Entry("googlenet", "GoogLeNet / Inception v1, with its two auxiliary classifiers"),
    Entry("bn_inception", "BN-Inception / Inception v2"),
    Entry("inception_v3_aux", "Inception v3 (factorised 1xn / nx1 convolutions, nested concats), with its aux head"),
    Entry("inception_v4", "Inception v4 (repeated blocks)"),
    Entry("inception_resnet_v1", "Inception-ResNet (scaled residual sums)"),
    Entry("cifar_mini", "a small Inception network for CIFAR-10 (the one CI trains)"),
)


def _png(entry: Entry) -> bytes:
    from PIL import Image

    data = render_diagram(inceptgen.load(f"@{entry.spec}"), "png", depth=entry.depth)
    with Image.open(io.BytesIO(data)) as image:
        out = io.BytesIO()
        image.convert("RGB").quantize(colors=64).save(out, format="PNG", optimize=True)
    return out.getvalue()


def _readme() -> str:
    lines = [
        "# Diagram gallery",
        "",
        "One network of each family of the spec library, as `inceptgen diagram` draws it. Whoever changes the",
        "renderer regenerates these pictures and looks at each of them:",
        "",
        "```bash",
        "python docs/gallery/make_gallery.py",
        "```",
        "",
        "(Graphviz's `dot` and Pillow are needed; the script reduces each PNG to 64 colours to keep the",
        "repository small.) Stages are the solid blue frames, block instances the dashed purple ones, repeats",
        "dotted, auxiliary heads pink; concats are the yellow joins, residual sums the red `+` nodes with the",
        "dashed shortcut. Every node shows its output shape (C x H x W, or the features of a flat vector).",
        "",
    ]
    for entry in GALLERY:
        lines += [f"## {entry.family}", "", f"`{entry.command()}`", "", f"![{entry.spec}]({entry.spec}.png)", ""]
    return "\n".join(lines)


def main() -> None:
    from inceptgen.output import atomic_write

    for entry in GALLERY:
        atomic_write(HERE / f"{entry.spec}.png", _png(entry))
        print(f"wrote docs/gallery/{entry.spec}.png")
    atomic_write(HERE / "README.md", _readme())
    print("wrote docs/gallery/README.md")


if __name__ == "__main__":
    main()
