"""Attachments: the download (through the policy, never from the static folder), removal, and the storage
page for admins. Uploading happens in each owner's own form (needs, answers, the AMI), through
`services.uploads.save_upload`."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from innovation_cycle import transaction
from innovation_cycle.authz import can, ensure, requires
from innovation_cycle.extensions import db
from innovation_cycle.models import Attachment
from innovation_cycle.services import uploads
from innovation_cycle.urls import safe_next

bp = Blueprint("attachments", __name__, url_prefix="/pieces-jointes")

KIND_LABELS = {
    uploads.PDF: "PDF", uploads.DOCX: "Word", uploads.DOC: "Word 97-2003", uploads.XLSX: "Excel",
    uploads.XLS: "Excel 97-2003", uploads.PPTX: "PowerPoint", uploads.PPT: "PowerPoint 97-2003",
    uploads.ODT: "OpenDocument texte", uploads.ODS: "OpenDocument tableur", uploads.ODP: "OpenDocument présentation",
}


@bp.app_template_filter("filesize")
def filesize(size: int | None) -> str:
    return uploads.human_size(size or 0)


@bp.app_template_filter("file_kind")
def file_kind(content_type: str) -> str:
    return KIND_LABELS.get(content_type, content_type)


@bp.app_template_global("upload_accept")
def upload_accept(allow_office: bool = False) -> str:
    return uploads.ACCEPT_OFFICE if allow_office else uploads.ACCEPT_PDF


@bp.app_template_test("visible_attachment")
def visible_attachment(attachment: Attachment) -> bool:
    """For lists shown to several audiences: keep only the files this person may download."""
    return can(current_user, "attachment.view", attachment)


def _load(attachment_id: int, action: str) -> Attachment:
    attachment = db.session.get(Attachment, attachment_id)
    if attachment is None:
        abort(404)
    ensure(action, attachment)
    return attachment


@bp.get("/<int:attachment_id>")
@requires("public.view")  # the AMI's rules document is public while the AMI is open: the target decides
def download(attachment_id: int):
    return uploads.attachment_response(_load(attachment_id, "attachment.view"))


@bp.post("/<int:attachment_id>/supprimer")
@requires("dashboard.view")  # whoever may edit the owner record: the target decides
def delete(attachment_id: int):
    attachment = _load(attachment_id, "attachment.delete")
    name = attachment.original_name
    back = safe_next(request.form.get("next")) or url_for("dashboard.index")
    uploads.delete_attachment(attachment, current_user)
    transaction.commit()
    flash(_("La pièce jointe « %(name)s » a été supprimée.", name=name), "success")
    return redirect(back)


@bp.get("/stockage")
@requires("storage.view")
def storage():
    return render_template("attachments/storage.html", report=uploads.storage_report())
