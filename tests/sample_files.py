"""Small files built in memory for the upload tests: what each format looks like to the content checks."""

from __future__ import annotations

import io
import zipfile

from openpyxl import Workbook

from innovation_cycle.services import uploads


def pdf_bytes(size: int | None = None) -> bytes:
    head = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n"
    tail = b"\n%%EOF\n"
    if size is None:
        return head + tail
    return head + b"0" * (size - len(head) - len(tail)) + tail


EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" + b"\x00" * 50 + b"This program cannot be run in DOS mode." + b"\x00" * 200
ELF = b"\x7fELF\x02\x01\x01" + b"\x00" * 120


def office_zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def docx_bytes(macros: bool = False) -> bytes:
    entries = {"[Content_Types].xml": b"<Types/>", "_rels/.rels": b"<Relationships/>",
               "word/document.xml": b"<w:document/>"}
    if macros:
        entries["word/vbaProject.bin"] = b"\x00" * 10
    return office_zip(entries)


def xlsx_bytes() -> bytes:
    book = Workbook()
    book.active["A1"] = "Besoin"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def odt_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(zipfile.ZipInfo("mimetype"), b"application/vnd.oasis.opendocument.text")
        archive.writestr("content.xml", b"<office:document-content/>")
    return buffer.getvalue()


def ole2_doc_bytes() -> bytes:
    """A Word 97-2003 file as far as the checks look: the OLE2 header, and a directory naming WordDocument."""
    return uploads.OLE2_MAGIC + b"\x00" * 1016 + "WordDocument".encode("utf-16-le") + b"\x00\x00" + b"\x00" * 600
