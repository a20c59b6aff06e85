"""Attachments: checked by their content, at most 10 MB, stored under a generated name outside the static
folder, served as downloads only to those the policy allows, and kept in step with the transaction."""

from __future__ import annotations

import html
import io
from pathlib import Path

import pytest
from sample_files import ELF, EXE, docx_bytes, odt_bytes, office_zip, ole2_doc_bytes, pdf_bytes, xlsx_bytes
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage

from innovation_cycle import transaction
from innovation_cycle.clock import paris_datetime
from innovation_cycle.extensions import db
from innovation_cycle.models import AmiCall, Attachment, AuditEvent, Need, OrganizationKind, Role
from innovation_cycle.services import uploads
from innovation_cycle.services.uploads import MAX_SIZE, UploadRefused


def upload(data: bytes, name: str = "document.pdf") -> FileStorage:
    return FileStorage(stream=io.BytesIO(data), filename=name, content_type="application/octet-stream")


@pytest.fixture
def ami(make):
    cycle = make.cycle(state="needs_collection")
    now = paris_datetime(2017, 1, 15)
    call = AmiCall(cycle=cycle, title="AMI 2017", introduction="i", eligibility="e", innovation_definition="d",
                   evaluation_criteria="c", legal_notice="n", created_at=now, updated_at=now)
    db.session.add(call)
    db.session.commit()
    return call


@pytest.fixture
def need(make, ami):
    buyer_org = make.organization("Ville de Lille")
    now = paris_datetime(2017, 2, 2)
    need = Need(cycle=ami.cycle, organization=buyer_org, title="Capteurs", problem="p", created_at=now,
                updated_at=now)
    db.session.add(need)
    db.session.commit()
    return need


def files_in(app) -> list[Path]:
    return sorted(p for p in Path(app.config["UPLOAD_FOLDER"]).glob("*") if p.is_file())


# --- content, not name -----------------------------------------------------------------------------------


@pytest.mark.parametrize("data,name", [(EXE, "devis.pdf"), (ELF, "rapport.pdf"), (EXE, "budget.xlsx"),
                                       (b"#!/bin/sh\nrm -rf /\n", "note.pdf")])
def test_a_renamed_executable_is_refused_and_nothing_is_kept(app, ami, data, name):
    with pytest.raises(UploadRefused) as refused:
        uploads.save_upload(upload(data, name), ami, None, allow_office=True)
    assert "programme ou un script" in refused.value.message
    transaction.rollback()
    assert db.session.scalar(select(func.count(Attachment.id))) == 0
    assert files_in(app) == []


def test_text_named_pdf_is_refused_because_of_its_content(ami):
    with pytest.raises(UploadRefused) as refused:
        uploads.save_upload(upload(b"Bonjour, ceci n'est pas un PDF.", "faux.pdf"), ami, None)
    assert "pas un PDF" in refused.value.message


def test_an_oversized_file_is_refused_and_ten_megabytes_exactly_is_accepted(app, ami):
    with pytest.raises(UploadRefused) as refused:
        uploads.save_upload(upload(pdf_bytes(MAX_SIZE + 1)), ami, None)
    assert refused.value.message == "Le fichier dépasse la taille maximale de 10 Mo."
    kept = uploads.save_upload(upload(pdf_bytes(MAX_SIZE), "gros.pdf"), ami, None)
    transaction.commit()
    assert kept.size == MAX_SIZE == 10 * 1024 * 1024


def test_an_empty_or_truncated_pdf_is_refused(ami):
    with pytest.raises(UploadRefused, match="vide"):
        uploads.save_upload(upload(b"", "vide.pdf"), ami, None)
    with pytest.raises(UploadRefused, match="incomplet"):
        uploads.save_upload(upload(pdf_bytes()[:-8], "coupe.pdf"), ami, None)
    with pytest.raises(UploadRefused, match="Choisissez"):
        uploads.save_upload(FileStorage(stream=io.BytesIO(b""), filename=""), ami, None)


def test_a_valid_pdf_is_stored_outside_static_under_a_generated_name(app, ami):
    data = pdf_bytes()
    attachment = uploads.save_upload(upload(data, "../../Règlement de l'AMI"), ami, None)
    transaction.commit()
    assert attachment.content_type == "application/pdf"
    assert attachment.original_name == "Règlement de l'AMI.pdf"  # no folders; the real extension added
    assert attachment.stored_name != attachment.original_name
    [path] = files_in(app)
    assert path.name == attachment.stored_name and path.read_bytes() == data
    assert Path(app.static_folder) not in path.parents
    row = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "attachment.add"))
    assert row.after["name"] == "Règlement de l'AMI.pdf" and row.after["size"] == len(data)


def test_office_documents_are_accepted_for_needs_only_when_allowed(need):
    accepted = {
        "cahier.docx": (docx_bytes(), uploads.DOCX),
        "tableau.xlsx": (xlsx_bytes(), uploads.XLSX),
        "note.odt": (odt_bytes(), uploads.ODT),
        "ancien.doc": (ole2_doc_bytes(), uploads.DOC),
    }
    for name, (data, mime) in accepted.items():
        assert uploads.save_upload(upload(data, name), need, None, allow_office=True).content_type == mime
        with pytest.raises(UploadRefused, match="seuls les PDF"):
            uploads.save_upload(upload(data, name), need, None, allow_office=False)


def test_macros_and_plain_archives_are_refused(need):
    with pytest.raises(UploadRefused, match="macros"):
        uploads.save_upload(upload(docx_bytes(macros=True), "cahier.docm"), need, None, allow_office=True)
    with pytest.raises(UploadRefused, match="archives ZIP"):
        uploads.save_upload(upload(office_zip({"a.txt": b"a"}), "archive.docx"), need, None, allow_office=True)


def test_the_true_extension_replaces_a_misleading_one(need):
    attachment = uploads.save_upload(upload(docx_bytes(), "budget.pdf"), need, None, allow_office=True)
    assert attachment.original_name == "budget.pdf.docx"
    assert attachment.stored_name.endswith(".docx")


def test_the_same_file_twice_on_one_record_is_kept_once(need):
    first = uploads.save_upload(upload(pdf_bytes(), "a.pdf"), need, None)
    again = uploads.save_upload(upload(pdf_bytes(), "a (1).pdf"), need, None)
    transaction.commit()
    assert first.id == again.id and len(need.attachments) == 1


# --- files follow the transaction ------------------------------------------------------------------------


def test_a_rolled_back_upload_leaves_no_file(app, ami):
    uploads.save_upload(upload(pdf_bytes()), ami, None)
    assert len(files_in(app)) == 1
    transaction.rollback()
    assert files_in(app) == []


def test_a_deleted_attachment_loses_its_file_only_when_committed(app, ami):
    attachment = uploads.save_upload(upload(pdf_bytes()), ami, None)
    transaction.commit()
    uploads.delete_attachment(db.session.get(Attachment, attachment.id), None)
    transaction.rollback()
    assert len(files_in(app)) == 1  # the deletion did not happen: the file stays
    uploads.delete_attachment(db.session.get(Attachment, attachment.id), None)
    transaction.commit()
    assert files_in(app) == [] and db.session.scalar(select(func.count(Attachment.id))) == 0


# --- served through the policy ----------------------------------------------------------------------------


def test_the_download_is_an_attachment_with_the_detected_type(client, login, make, ami):
    attachment = uploads.save_upload(upload(pdf_bytes(), "Règlement.pdf"), ami, None)
    transaction.commit()
    login(make.user(Role.ADMIN))
    response = client.get(f"/pieces-jointes/{attachment.id}")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert "R%C3%A8glement.pdf" in response.headers["Content-Disposition"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.data == pdf_bytes()


def test_the_rules_document_is_public_only_while_the_ami_is_open(app, client, login, make, ami, clock):
    attachment = uploads.save_upload(upload(pdf_bytes()), ami, None)
    transaction.commit()
    url = f"/pieces-jointes/{attachment.id}"
    response = client.get(url)  # needs collection: not yet public
    assert response.status_code == 302 and "/compte/connexion" in response.headers["Location"]
    company = make.user(Role.COMPANY, organization=make.organization("Lumière Data", OrganizationKind.COMPANY))
    login(company)
    assert client.get(url).status_code == 403
    ami.cycle.state = "ami_sourcing"
    db.session.commit()
    clock.set(paris_datetime(2017, 4, 10, 9))
    assert client.get(url).status_code == 200
    client.post("/compte/deconnexion")
    assert client.get(url).status_code == 200  # anyone, during the AMI
    clock.set(paris_datetime(2017, 5, 2, 9))  # deadline passed
    assert client.get(url).status_code == 302


def test_a_need_attachment_is_not_public(client, need):
    attachment = uploads.save_upload(upload(pdf_bytes()), need, None)
    transaction.commit()
    assert client.get(f"/pieces-jointes/{attachment.id}").status_code == 302


def test_removing_through_the_page_and_an_unknown_id(client, login, make, ami):
    attachment = uploads.save_upload(upload(pdf_bytes()), ami, None)
    transaction.commit()
    login(make.user(Role.ADMIN))
    assert client.get("/pieces-jointes/999").status_code == 404
    response = client.post(f"/pieces-jointes/{attachment.id}/supprimer", data={"next": "https://ailleurs.example"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/tableau-de-bord/")
    assert db.session.scalar(select(func.count(Attachment.id))) == 0


def test_the_admin_sees_the_storage_used(client, login, make, ami, need):
    workbook = xlsx_bytes()
    uploads.save_upload(upload(pdf_bytes(2048)), ami, None)
    uploads.save_upload(upload(workbook, "t.xlsx"), need, None, allow_office=True)
    transaction.commit()
    login(make.user(Role.ADMIN))
    page = client.get("/pieces-jointes/stockage").get_data(as_text=True)
    total = 2048 + len(workbook)
    assert f"Espace utilisé : {uploads.human_size(total)} pour 2 fichiers." in html.unescape(page)
    assert uploads.human_size(2048) == "2,0 Ko" and uploads.human_size(10 * 1024 * 1024) == "10,0 Mo"
