"""Output lines, and how they are written: indentation, blank lines, aligned trailing comments."""

from __future__ import annotations

from dataclasses import dataclass

from inceptgen.fmt.lexing import Comment

__all__ = ["INDENT", "Line", "render"]

#: One level of indentation, as the spec library has always been written.
INDENT = "  "
#: Blanks between code and its trailing comment, at least.
COMMENT_GAP = 2


@dataclass
class Line:
    """One output line: code (empty for a blank or comment-only line) and an optional comment."""

    indent: int
    code: str = ""
    comment: Comment | None = None

    @property
    def blank(self) -> bool:
        return not self.code and self.comment is None

    @property
    def width(self) -> int:
        return len(INDENT) * self.indent + len(self.code)


def render(lines: list[Line]) -> str:
    """The text of `lines`, ending in one newline (empty for no lines).

    Trailing comments of consecutive lines are aligned in one column: the furthest one the
    source put any of them in, pushed right where code would come closer than two blanks.
    Keeping the author's column keeps tables of shapes as they were written (the library's
    `# 192 x 35 x 35` columns); the result is a fixed point, so formatting twice changes nothing.
    """
    columns = _comment_columns(lines)
    out = []
    for line, column in zip(lines, columns, strict=True):
        prefix = INDENT * line.indent
        if line.blank:
            out.append("")
        elif not line.code:
            out.append(prefix + line.comment.text)  # type: ignore[union-attr]
        elif line.comment is None:
            out.append(prefix + line.code)
        else:
            out.append(f"{prefix}{line.code}".ljust(column) + line.comment.text)
    return "\n".join(out) + "\n" if out else ""


def _comment_columns(lines: list[Line]) -> list[int]:
    """The column of each line's trailing comment (0 for lines without one)."""
    columns = [0] * len(lines)
    start = 0
    while start < len(lines):
        end = start
        while end < len(lines) and lines[end].code and lines[end].comment is not None:
            end += 1
        if end == start:
            start += 1
            continue
        group = lines[start:end]
        column = max(max(line.comment.column, line.width + COMMENT_GAP) for line in group)  # type: ignore[union-attr]
        columns[start:end] = [column] * len(group)
        start = end
    return columns
