"""Safety caps that turn hostile or mistaken specs into clear errors instead of hangs."""

from __future__ import annotations

from inceptgen.records import record

__all__ = ["Limits"]


@record
class Limits:
    """Caps on what one spec may ask for; every field can be raised by API callers.

    Attributes:
        max_file_bytes: size of a spec file.
        max_repeat: count of a single `repeat`.
        max_depth: nesting of blocks, branches, residuals and repeats (including imports).
        max_nodes: layers in the fully expanded model.
        max_containers: block uses, concats, residuals, repeats and repeat copies in the
            fully expanded model (each becomes an object when the model is built).
        max_params: parameters in the model.
        max_expr_depth: nesting of operators and function calls in one expression (`1 + 1 + ...`
            counts one level per operator); keeps generated Python within its parser's nesting limit.
        max_imports: files one spec imports, directly or not (each counted once).
        max_tokens: tokens in one file (names, numbers, operators; comments not counted). The
            largest spec of the library has 670; the limit keeps parsing well under a second.
    """

    max_file_bytes: int = 1_000_000
    max_repeat: int = 1_000
    max_depth: int = 48
    max_nodes: int = 50_000
    max_containers: int = 100_000
    max_params: int = 2_000_000_000
    max_expr_depth: int = 50
    max_imports: int = 256
    max_tokens: int = 20_000
