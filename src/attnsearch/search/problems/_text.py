"""Line-by-line text reading shared by the file readers (TSPLIB, G-set, cuts, QUBO).

Each reader keeps the 1-based number of every line it reads, so that every
malformed input becomes a ``ValueError`` of the form ``"<path>, line <k>: <what is
wrong>"``; arrays are allocated only after the data they hold has been read, so a
huge count in a short file is reported, never allocated.
"""

from __future__ import annotations

import math
import os
import re
import stat

__all__ = ["DECIMAL", "INTEGER", "Lines", "parse_decimal", "parse_integer", "shorten"]

# Strict number syntax: Python's float() would also take "nan", "inf", "1_0".
INTEGER = re.compile(r"[+-]?[0-9]+")
DECIMAL = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


class Lines:
    """The lines of one text file, a cursor over them and located errors."""

    def __init__(self, path, lines):
        self.path = path
        self.lines = lines
        self.index = 0  # lines[index] is the next line to read

    @classmethod
    def open(cls, path, what):
        """Read ``path`` as UTF-8 text; reject directories, devices and empty files."""
        path = os.fsdecode(os.fspath(path))
        # stat first so that a FIFO or device is refused instead of blocking.
        mode = os.stat(path).st_mode  # FileNotFoundError for a missing file
        if stat.S_ISDIR(mode):
            raise ValueError(f"{path}: is a directory, not a {what} file")
        if not stat.S_ISREG(mode):
            raise ValueError(f"{path}: is not a regular file")
        with open(path, "rb") as handle:
            data = handle.read()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            lineno = data.count(b"\n", 0, exc.start) + 1
            raise ValueError(
                f"{path}, line {lineno}: not UTF-8 text "
                f"(byte 0x{data[exc.start]:02x}); is this a {what} file?"
            ) from None
        text = text.removeprefix("\ufeff")
        # Universal newlines by hand: str.splitlines() would also split on
        # form feeds and other separators, shifting the line numbers.
        lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        if lines[-1] == "":
            lines.pop()  # the newline that ends the last line
        source = cls(path, lines)
        if all(not line.strip() for line in lines):
            raise source.error(1, f"file is empty (no {what} data)")
        return source

    @property
    def last_lineno(self):
        """Number of the last line (where end-of-file errors point)."""
        return max(len(self.lines), 1)

    def next_nonblank(self):
        """Return ``(lineno, stripped_text)`` of the next non-blank line, or None."""
        while self.index < len(self.lines):
            text = self.lines[self.index].strip()
            self.index += 1
            if text:
                return self.index, text
        return None

    def peek_nonblank(self):
        """Like :meth:`next_nonblank` without moving the cursor."""
        saved = self.index
        item = self.next_nonblank()
        self.index = saved
        return item

    def error(self, lineno, message):
        """A ``ValueError`` naming the file and the 1-based line."""
        return ValueError(f"{self.path}, line {lineno}: {message}")

    def reject_content_after_eof(self, eof_lineno):
        """Raise if anything but blank lines follows the ``EOF`` line."""
        item = self.next_nonblank()
        if item is not None:
            lineno, text = item
            raise self.error(
                lineno,
                f"unexpected content after EOF (line {eof_lineno}): {shorten(text)}",
            )


def shorten(text, limit=60):
    """``repr`` of ``text``, cut to ``limit`` characters for error messages."""
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def parse_decimal(source, lineno, token, what):
    """Parse a finite decimal number or raise naming ``what``."""
    if DECIMAL.fullmatch(token):
        number = float(token)
        if math.isfinite(number):
            return number
        raise source.error(lineno, f"{what} {shorten(token)} is not finite")
    raise source.error(lineno, f"{what} {shorten(token)} is not a finite number")


def parse_integer(source, lineno, token, what):
    """Parse a decimal integer or raise naming ``what``."""
    if INTEGER.fullmatch(token):
        return int(token)
    raise source.error(lineno, f"{what} {shorten(token)} is not an integer")
