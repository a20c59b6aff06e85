"""Attachments: files checked by their content (never their name), stored outside the static folder under a
generated name, and served only to those the policy lets see the record that owns them.

The API the needs and answers areas call:
- `save_upload(file_storage, owner, user, allow_office=...) -> Attachment`, raising `UploadRefused(message)`
  with a French sentence to show next to the upload field;
- `delete_attachment(attachment)`;
- `attachment_response(attachment)`, for the download view, after `ensure("attachment.view", attachment)`.

Files and the database move together: a file written during a request that ends in a rollback is removed,
and a deleted attachment's file goes only once the deletion is committed.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import unicodedata
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import filetype
from flask import Response, abort, current_app, send_file
from flask_babel import gettext as _
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from innovation_cycle import clock
from innovation_cycle.extensions import db
from innovation_cycle.models import AmiCall, Application, Attachment, Need, User
from innovation_cycle.services import audit

MAX_SIZE = 10 * 1024 * 1024  # per file; MAX_CONTENT_LENGTH (12 MB) bounds the whole request
PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
ODT = "application/vnd.oasis.opendocument.text"
ODS = "application/vnd.oasis.opendocument.spreadsheet"
ODP = "application/vnd.oasis.opendocument.presentation"
DOC = "application/msword"
XLS = "application/vnd.ms-excel"
PPT = "application/vnd.ms-powerpoint"

EXTENSIONS = {PDF: "pdf", DOCX: "docx", XLSX: "xlsx", PPTX: "pptx", ODT: "odt", ODS: "ods", ODP: "odp",
              DOC: "doc", XLS: "xls", PPT: "ppt"}
OFFICE_TYPES = frozenset(EXTENSIONS) - {PDF}
# For the upload field's `accept` attribute: a hint to the browser, never a check.
ACCEPT_PDF = ".pdf,application/pdf"
ACCEPT_OFFICE = ACCEPT_PDF + ",.doc,.docx,.xls,.xlsx,.ppt,.pptx,.odt,.ods,.odp"

OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# Headers of programs and scripts: refused whatever the file is called.
EXECUTABLE_MAGICS = (
    b"MZ",  # Windows PE / DOS
    b"\x7fELF",  # Linux
    b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe",  # Mach-O
    b"\xca\xfe\xba\xbe",  # Mach-O universal / Java class
    b"#!",  # scripts
)
OOXML_MAIN_PARTS = {"word/document.xml": DOCX, "xl/workbook.xml": XLSX, "ppt/presentation.xml": PPTX}
ODF_TYPES = (ODT, ODS, ODP)
OLE2_STREAMS = {"WordDocument": DOC, "Workbook": XLS, "Book": XLS, "PowerPoint Document": PPT}
MAX_ZIP_ENTRIES = 5000


class UploadRefused(Exception):
    """The file cannot be kept; `message` is the French sentence for the person who sent it."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


# --- content sniffing ----------------------------------------------------------------------------------


def _executable(data: bytes) -> bool:
    kind = filetype.guess(data)
    if kind is not None and kind.extension in {"exe", "elf", "dex", "swf"}:
        return True
    return data.startswith(EXECUTABLE_MAGICS)


def _sniff_pdf(data: bytes) -> str:
    # Readers tolerate junk after %%EOF; a file without one near its end was cut short.
    if b"%%EOF" not in data[-4096:]:
        raise UploadRefused(_("Le fichier PDF est incomplet ou endommagé : enregistrez-le de nouveau puis "
                              "réessayez."))
    return PDF


def _sniff_zip(data: bytes) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            if len(infos) > MAX_ZIP_ENTRIES:
                raise UploadRefused(_("Ce document bureautique n'est pas valide."))
            names = {info.filename for info in infos}
            if any(name.lower().endswith("vbaproject.bin") for name in names):
                raise UploadRefused(_("Les documents contenant des macros ne sont pas acceptés : enregistrez-le "
                                      "sans macros (par exemple en .docx ou .xlsx) ou en PDF."))
            if "[Content_Types].xml" in names:  # Office Open XML
                for part, mime in OOXML_MAIN_PARTS.items():
                    if part in names:
                        return mime
            elif "mimetype" in names:  # OpenDocument
                info = archive.getinfo("mimetype")
                if info.file_size <= 100:
                    declared = archive.read(info).decode("ascii", "replace").strip()
                    if declared in ODF_TYPES:
                        return declared
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError, ValueError, OSError):
        pass
    raise UploadRefused(_("Seuls les documents bureautiques (Word, Excel, PowerPoint, OpenDocument) et les PDF "
                          "sont acceptés ; les archives ZIP ne le sont pas."))


def _sniff_ole2(data: bytes) -> str:
    """Legacy Office (Word 97–2003…): an OLE2 compound file whose directory names the document's stream."""
    if "_VBA_PROJECT".encode("utf-16-le") in data or "Macros".encode("utf-16-le") + b"\x00\x00" in data:
        raise UploadRefused(_("Les documents contenant des macros ne sont pas acceptés : enregistrez-le sans "
                              "macros ou en PDF."))
    for stream, mime in OLE2_STREAMS.items():
        if stream.encode("utf-16-le") + b"\x00\x00" in data:
            return mime
    kind = filetype.guess(data)
    if kind is not None and kind.mime in (DOC, XLS, PPT):
        return kind.mime
    raise UploadRefused(_("Ce document Office ancien format n'a pas été reconnu : enregistrez-le en PDF ou "
                          "au format .docx / .xlsx."))


def sniff(data: bytes, *, allow_office: bool) -> str:
    """The file's MIME type found from its bytes, or UploadRefused with the reason in French."""
    if not data:
        raise UploadRefused(_("Le fichier est vide."))
    if _executable(data):
        raise UploadRefused(_("Ce fichier est un programme ou un script, pas un document : il est refusé, "
                              "quel que soit son nom."))
    if data.startswith(b"%PDF-"):
        return _sniff_pdf(data)
    if allow_office:
        if data.startswith(b"PK\x03\x04"):
            return _sniff_zip(data)
        if data.startswith(OLE2_MAGIC):
            return _sniff_ole2(data)
        raise UploadRefused(_("Le contenu du fichier n'est ni un PDF ni un document bureautique (Word, Excel, "
                              "PowerPoint, OpenDocument), quel que soit son nom."))
    raise UploadRefused(_("Le contenu du fichier n'est pas un PDF, quel que soit son nom : seuls les PDF sont "
                          "acceptés ici."))


# --- names and storage ---------------------------------------------------------------------------------


def upload_folder() -> Path:
    folder = current_app.config.get("UPLOAD_FOLDER") or os.path.join(current_app.instance_path, "uploads")
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _path_of(stored_name: str) -> Path:
    if not re.fullmatch(r"[0-9a-f]{32}\.[a-z]{3,4}", stored_name):  # never a path from outside
        raise ValueError(f"unexpected stored name {stored_name!r}")
    return upload_folder() / stored_name


def clean_name(filename: str | None, mime: str) -> str:
    """The name shown and offered on download: the sender's, without folders or control characters, and
    with the extension of what the file really is."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in unicodedata.normalize("NFC", name) if unicodedata.category(ch)[0] != "C")
    name = name.strip().strip(".") or _("document")
    ext = EXTENSIONS[mime]
    stem, dot, current = name.rpartition(".")
    if not dot or current.lower() != ext:
        stem = name
    stem = stem[: 255 - len(ext) - 1]
    return f"{stem}.{ext}"


def _read_limited(stream: IO[bytes]) -> bytes:
    data = stream.read(MAX_SIZE + 1)
    if len(data) > MAX_SIZE:
        raise UploadRefused(_("Le fichier dépasse la taille maximale de 10 Mo."))
    return data


# --- owners ---------------------------------------------------------------------------------------------

Owner = Need | Application | AmiCall
_OWNER_FIELDS = {Need: "need", Application: "application", AmiCall: "ami"}


def owner_of(attachment: Attachment) -> Owner | None:
    return attachment.need or attachment.application or attachment.ami


def _attach(attachment: Attachment, owner: Owner) -> None:
    field = _OWNER_FIELDS.get(type(owner))
    if field is None:
        raise TypeError(f"attachments cannot belong to {type(owner).__name__}")
    setattr(attachment, field, owner)


# --- file writes that follow the transaction ------------------------------------------------------------

_WRITTEN, _DOOMED = "uploads_written", "uploads_doomed"


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    session.info.pop(_WRITTEN, None)
    for path in session.info.pop(_DOOMED, []):
        Path(path).unlink(missing_ok=True)


@event.listens_for(Session, "after_transaction_end")
def _after_transaction_end(session: Session, transaction: Any) -> None:
    if transaction.parent is not None or transaction.nested:
        return
    # Not committed (a commit has already emptied the list): the database forgot these files, so does the disk.
    for path in session.info.pop(_WRITTEN, []):
        Path(path).unlink(missing_ok=True)
    session.info.pop(_DOOMED, None)


# --- the API --------------------------------------------------------------------------------------------


def save_upload(file_storage: Any, owner: Owner, user: User | None, *, allow_office: bool = False) -> Attachment:
    """Check the file and attach it to `owner` (a need, an answer or the AMI); flushes, never commits.

    Sending the same file twice to the same record keeps one attachment (a double submission)."""
    if file_storage is None or not getattr(file_storage, "filename", None):
        raise UploadRefused(_("Choisissez un fichier à envoyer."))
    data = _read_limited(file_storage.stream)
    mime = sniff(data, allow_office=allow_office)
    digest = hashlib.sha256(data).hexdigest()
    for existing in owner.attachments:
        if existing.sha256 == digest:
            return existing
    stored_name = f"{uuid.uuid4().hex}.{EXTENSIONS[mime]}"
    path = _path_of(stored_name)
    tmp = path.with_suffix(".part")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    db.session.info.setdefault(_WRITTEN, []).append(str(path))
    attachment = Attachment(original_name=clean_name(file_storage.filename, mime), stored_name=stored_name,
                            content_type=mime, size=len(data), sha256=digest, uploaded_at=clock.now(),
                            uploaded_by=user)
    _attach(attachment, owner)
    db.session.add(attachment)
    db.session.flush()
    audit.record("attachment.add", attachment, actor=user if user else None,
                 after={"owner": _owner_label(owner), "name": attachment.original_name, "type": mime,
                        "size": attachment.size, "sha256": digest})
    return attachment


def save_from_field(field: Any, owner: Owner, user: User | None, *, allow_office: bool = False
                    ) -> Attachment | None:
    """For forms: save the file of a (Flask-WTF) FileField if one was sent; a refusal goes next to the field
    (and so into the form's error summary) and None is returned."""
    storage = getattr(field, "data", None)
    if storage is None or not getattr(storage, "filename", None):
        return None
    try:
        return save_upload(storage, owner, user, allow_office=allow_office)
    except UploadRefused as refused:
        field.errors = [*field.errors, refused.message]
        return None


def delete_attachment(attachment: Attachment, user: User | None = None) -> None:
    """Remove the attachment; its file goes once the deletion is committed."""
    owner = owner_of(attachment)
    audit.record("attachment.delete", attachment, actor=user if user else True,
                 before={"owner": _owner_label(owner) if owner else None, "name": attachment.original_name,
                         "size": attachment.size, "sha256": attachment.sha256})
    db.session.info.setdefault(_DOOMED, []).append(str(_path_of(attachment.stored_name)))
    if owner is not None:
        owner.attachments.remove(attachment)
    db.session.delete(attachment)
    db.session.flush()


def _owner_label(owner: Owner) -> str:
    return f"{_OWNER_FIELDS[type(owner)]}:{owner.id}"


def attachment_response(attachment: Attachment) -> Response:
    """The file as a download (never shown inline: a PDF from outside is not rendered on our origin)."""
    path = _path_of(attachment.stored_name)
    if not path.is_file():
        abort(404)
    response = send_file(path, mimetype=attachment.content_type, as_attachment=True,
                         download_name=attachment.original_name, conditional=True, max_age=0)
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


# --- storage used ---------------------------------------------------------------------------------------


@dataclass
class StorageUse:
    owner: str  # "need" | "application" | "ami"
    count: int
    size: int


@dataclass
class StorageReport:
    by_owner: list[StorageUse]
    count: int
    size: int
    disk_size: int  # what the folder really holds (files of rolled-back or crashed requests included)
    disk_files: int
    folder: str


def storage_report() -> StorageReport:
    rows = []
    for field, column in (("need", Attachment.need_id), ("application", Attachment.application_id),
                          ("ami", Attachment.ami_id)):
        count, size = db.session.execute(
            select(func.count(Attachment.id), func.coalesce(func.sum(Attachment.size), 0))
            .where(column.is_not(None))).one()
        rows.append(StorageUse(field, int(count), int(size)))
    folder = upload_folder()
    files = [p for p in folder.iterdir() if p.is_file()]
    return StorageReport(rows, sum(r.count for r in rows), sum(r.size for r in rows),
                         sum(p.stat().st_size for p in files), len(files), str(folder))


def human_size(size: int) -> str:
    """A size in French units (octets, Ko, Mo, Go), with a decimal comma."""
    if size < 1024:
        return _("%(n)d octets", n=size)
    value = size / 1024
    for unit in ("Ko", "Mo"):
        if value < 1024:
            return f"{value:.1f} {unit}".replace(".", ",")
        value /= 1024
    return f"{value:.1f} Go".replace(".", ",")
