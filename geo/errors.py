"""The one exception users see: what was wrong, where (file, row, column), how to fix it."""

from __future__ import annotations

from pathlib import Path


class InputError(ValueError):
    """Bad input from a user's file or argument.

    Parameters
    ----------
    problem
        What was wrong, in one sentence.
    file
        The file it was found in, if any.
    row
        The row a user sees: the spreadsheet row for CSV/XLSX (the header is row 1 when it
        is on the first line, so the first data row is row 2; title rows above the header
        keep their numbers) and the feature number (from 1) for vector files.
    column
        The column concerned, if any.
    fix
        How to fix it.
    """

    def __init__(
        self,
        problem: str,
        *,
        file: str | Path | None = None,
        row: int | None = None,
        column: str | None = None,
        fix: str | None = None,
    ) -> None:
        self.problem = problem
        self.file = None if file is None else str(file)
        self.row = row
        self.column = column
        self.fix = fix
        super().__init__(self.one_line())

    def where(self) -> str:
        """Return 'file, row N, column C' for the parts that are known."""
        parts = []
        if self.file:
            parts.append(Path(self.file).name)
        if self.row is not None:
            parts.append(f"row {self.row}")
        if self.column:
            parts.append(f"column '{self.column}'")
        return ", ".join(parts)

    def one_line(self) -> str:
        """Return the message on one line, as the CLI prints it."""
        where = self.where()
        text = f"{where}: {self.problem}" if where else self.problem
        if self.fix:
            text += f" Fix: {self.fix}"
        return text
