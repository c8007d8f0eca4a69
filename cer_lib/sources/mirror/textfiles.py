"""The mirror's text files: their bytes (plain, or inside FDA's ``.zip`` downloads), encoding and delimiter.

Encodings are detected, not guessed, in this order:

1. a byte-order mark names UTF-8, UTF-16 or UTF-32 (little or big endian);
2. many NUL bytes (at least `NUL_SHARE` of the first 64 KiB; ASCII text in UTF-16 has one in two)
   mean UTF-16 or UTF-32 without a mark: charset-normalizer says which; a file it cannot read as
   either is binary and refused (a stray NUL in a text file is left to the row checks);
3. bytes that are valid UTF-8 are UTF-8;
4. anything else is read in the encoding the format documents (FDA publishes the MAUDE files in
   Latin-1 and the classification file in Windows-1252). charset-normalizer is not asked here: on
   FDA's classification file it answers cp1250 (Central European), which would misread its text.

A file that is not delimited as its format requires is refused on its first line, with the
delimiters that line does hold, rather than read as one wide column whose rows are all rejected.
"""
from __future__ import annotations

import codecs
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ...errors import MirrorError

__all__ = ["DecodedText", "read_file_bytes", "decode_text", "read_text_file", "require_delimiter"]

_BOMS = (  # longest first: the UTF-32 LE mark starts with the UTF-16 LE one
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
NUL_SHARE = 0.05
_TEXT_MEMBERS = (".txt", ".csv", ".json")
_DELIMITER_NAMES = {",": "','", "\t": "tab", ";": "';'", "|": "'|'", "$": "'$'"}


@dataclass(frozen=True)
class DecodedText:
    text: str  # without the byte-order mark
    encoding: str  # as detected: "utf-8", "utf-16-le", "latin-1", ...
    byte_order_mark: bool = False


def read_file_bytes(path: Path) -> bytes:
    """The bytes of ``path``, or of the file inside it when it is a ``.zip`` download.

    In a zip: the member named like the archive without ``.zip``, else the first text member
    (``.txt``, ``.csv``, ``.json``), else the first member.
    """
    path = Path(path)
    try:
        if path.suffix.lower() != ".zip":
            return path.read_bytes()
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.namelist() if not m.endswith("/")]
            if not members:
                raise MirrorError(f"{path}: the zip archive is empty; re-download it")
            stem = path.name[: -len(".zip")].lower()
            member = next((m for m in members if Path(m).name.lower() == stem), None)
            member = member or next((m for m in members if m.lower().endswith(_TEXT_MEMBERS)), members[0])
            return archive.read(member)
    except zipfile.BadZipFile:
        raise MirrorError(f"{path}: not a readable zip archive; re-download it") from None
    except OSError as exc:
        raise MirrorError(f"{path}: cannot be read ({exc.strerror or exc}); check the path and permissions") from None


def decode_text(data: bytes, path: Path | str, *, legacy: str) -> DecodedText:
    """``data`` as text, its encoding detected (see the module docstring); ``legacy`` is the format's
    documented encoding for bytes that are not UTF-8."""
    for mark, encoding in _BOMS:
        if data.startswith(mark):
            return DecodedText(_strict(data[len(mark):], encoding, path), encoding, byte_order_mark=True)
    sample = data[:65536]
    if sample and sample.count(0) >= len(sample) * NUL_SHARE:
        from charset_normalizer import from_bytes

        best = from_bytes(sample).best()
        encoding = best.encoding.replace("_", "-") if best is not None else ""
        if not encoding.startswith(("utf-16", "utf-32")):
            offset = data.index(b"\x00")
            raise MirrorError(
                f"{path}: binary data (a NUL byte at byte {offset}) and no UTF-16/UTF-32 text: not a text file; "
                "re-download it or save it as text"
            )
        if encoding in ("utf-16", "utf-32"):  # a named byte order is needed without a mark
            encoding += "-le"
        return DecodedText(_strict(data, encoding, path), encoding)
    try:
        return DecodedText(data.decode("utf-8"), "utf-8")
    except UnicodeDecodeError:
        return DecodedText(data.decode(legacy), legacy)


def _strict(data: bytes, encoding: str, path: Path | str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise MirrorError(
            f"{path}: declared or detected as {encoding} but not valid {encoding} at byte {exc.start}; re-save it as UTF-8"
        ) from None


def read_text_file(path: Path, *, legacy: str) -> DecodedText:
    """`read_file_bytes` then `decode_text`."""
    return decode_text(read_file_bytes(path), path, legacy=legacy)


def require_delimiter(line: str, delimiter: str, *, path: Path | str, lineno: int, expected: str) -> None:
    """Refuse a file whose line ``lineno`` holds no ``delimiter``, naming the delimiters it does hold."""
    if delimiter in line:
        return
    found = [f"{line.count(d)} {name}" for d, name in _DELIMITER_NAMES.items() if d != delimiter and d in line]
    holds = f"it holds {' and '.join(found)} instead" if found else "it holds a single column"
    raise MirrorError(
        f"{path}: line {lineno}: not {_DELIMITER_NAMES.get(delimiter, repr(delimiter))}-delimited ({holds}); {expected}"
    )
