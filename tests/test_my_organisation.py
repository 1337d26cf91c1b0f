"""My organisation: profile, Markdown, logo uploads, colleagues, credited signatures, IDOR."""

from __future__ import annotations

import io
import os
import re

from PIL import Image, PngImagePlugin
from sqlalchemy import select

from objectwar.accounts.models import Invitation, User
from objectwar.audit.models import AuditEvent
from objectwar.extensions import db as _db
from objectwar.organisations.models import Organisation
from objectwar.petitions.models import Petition, PetitionStatus, Signature
from tests.helpers import csrf_token, login_as

PROFILE = {"name": "Organisation A", "country": "DE", "city": "Berlin",
           "website": "https://org-a.example", "description": "About Organisation A."}


def post_profile(client, **changes):
    token = csrf_token(client, "/my/organisation/profile")
    return client.post("/my/organisation/profile", data={**PROFILE, **changes, "csrf_token": token})


def test_profile_edit_is_audited_and_public(client, app, people, auth):
    auth.member(people.org_a)
    response = post_profile(client, name="Organisation A e.V.", city="Hamburg",
                            description="We help **objectors**. [Site](https://a.example)\n\n"
                                        "<script>alert(1)</script> [x](javascript:alert(1))")
    assert response.status_code == 302
    page = app.test_client().get("/organisations/org-a").get_data(as_text=True)
    assert "Organisation A e.V." in page and "Hamburg" in page
    assert "<strong>objectors</strong>" in page
    assert '<a href="https://a.example" rel="nofollow noopener">Site</a>' in page
    assert "<script>alert" not in page and "javascript:" not in page
    with app.app_context():
        event = _db.session.scalar(select(AuditEvent).where(AuditEvent.action == "organisation.update"))
        assert event.actor_id == people.member_a and event.target_id == people.org_a
        assert event.details["changes"]["name"] == ["Organisation A", "Organisation A e.V."]
        assert event.details["changes"]["city"] == ["Berlin", "Hamburg"]
        assert "country" not in event.details["changes"]


def test_profile_bad_input_changes_nothing(client, app, people, auth):
    auth.member(people.org_a)
    response = post_profile(client, name="Renamed", website="javascript:alert(1)", country="ZZ")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Enter a web address starting with https:// or http://." in page
    assert "Choose a country from the list." in page
    with app.app_context():
        assert _db.session.get(Organisation, people.org_a).name == "Organisation A"
        assert _db.session.scalar(select(AuditEvent)) is None


def png_with_script_in_metadata() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "<script>alert('x')</script>")
    output = io.BytesIO()
    Image.new("RGB", (1200, 600), (200, 30, 30)).save(output, format="PNG", pnginfo=info)
    return output.getvalue()


def upload(client, data: bytes, filename: str):
    token = csrf_token(client, "/my/organisation/logo")
    return client.post("/my/organisation/logo", content_type="multipart/form-data",
                       data={"csrf_token": token, "logo": (io.BytesIO(data), filename)})


def test_logo_is_re_encoded_without_metadata_and_bounded(client, app, people, auth):
    original = png_with_script_in_metadata()
    assert b"tEXt" in original and b"<script>" in original
    auth.member(people.org_a)
    assert upload(client, original, "logo.png").status_code == 302
    with app.app_context():
        name = _db.session.get(Organisation, people.org_a).logo
        path = os.path.join(app.config["UPLOAD_DIR"], name)
        event = _db.session.scalar(select(AuditEvent).where(AuditEvent.action == "organisation.logo"))
        assert event.details["changes"]["logo"] == [None, name]
    assert re.fullmatch(r"[0-9a-f]{32}\.png", name)
    with open(path, "rb") as handle:
        stored = handle.read()
    assert b"tEXt" not in stored and b"<script>" not in stored and b"iTXt" not in stored
    with Image.open(path) as image:
        assert image.format == "PNG" and max(image.size) == 512
    response = app.test_client().get(f"/organisations/logos/{name}")
    assert response.status_code == 200 and response.mimetype == "image/png"
    assert response.data == stored
    assert "sandbox" in response.headers["Content-Security-Policy"]
    assert f"/organisations/logos/{name}" in app.test_client().get("/organisations").get_data(as_text=True)


def test_jpeg_and_webp_are_accepted(client, app, people, auth):
    auth.member(people.org_a)
    for fmt in ("JPEG", "WEBP"):
        output = io.BytesIO()
        Image.new("RGB", (40, 30), (10, 20, 30)).save(output, format=fmt)
        assert upload(client, output.getvalue(), "x.img").status_code == 302


def test_html_renamed_png_and_other_files_are_refused(client, app, people, auth):
    auth.member(people.org_a)
    folder = app.config["UPLOAD_DIR"]
    before = set(os.listdir(folder)) if os.path.isdir(folder) else set()
    message = "Upload a PNG, JPEG or WebP image of at most 2 MB."
    gif = io.BytesIO()
    Image.new("RGB", (10, 10)).save(gif, format="GIF")
    for data, name in [(b"<html><script>alert(1)</script></html>", "logo.png"),
                       (b"\x89PNG\r\n\x1a\n" + b"garbage" * 10, "broken.png"),
                       (gif.getvalue(), "logo.gif"), (b"", "empty.png"),
                       (b"\x89PNG\r\n\x1a\n" + b"0" * (2 * 1024 * 1024 + 10), "huge.png")]:
        response = upload(client, data, name)
        assert response.status_code == 422, name
        assert message in response.get_data(as_text=True)
    response = client.post("/my/organisation/logo", data={"csrf_token": csrf_token(
        client, "/my/organisation/logo")})
    assert response.status_code == 422
    with app.app_context():
        assert _db.session.get(Organisation, people.org_a).logo is None
    assert (set(os.listdir(folder)) if os.path.isdir(folder) else set()) == before


def test_logo_route_refuses_strange_names_and_hidden_organisations(client, app, people):
    assert client.get("/organisations/logos/..%2Fconfig.py").status_code == 404
    assert client.get("/organisations/logos/" + "a" * 32 + ".png").status_code == 404


def test_colleagues_list_and_remove_with_confirmation(client, app, people, auth):
    auth.member(people.org_a)
    page = client.get("/my/organisation/colleagues").get_data(as_text=True)
    assert "anna@a.example" in page and "bob@b.example" not in page and "new@b.example" not in page
    confirm = client.get(f"/my/organisation/colleagues/{people.colleague_a}/remove")
    assert confirm.status_code == 200 and "anna@a.example" in confirm.get_data(as_text=True)
    with app.app_context():
        assert _db.session.get(User, people.colleague_a) is not None
    token = csrf_token(client, "/my/organisation/colleagues")
    response = client.post(f"/my/organisation/colleagues/{people.colleague_a}/remove",
                           data={"csrf_token": token})
    assert response.status_code == 302
    with app.app_context():
        assert _db.session.get(User, people.colleague_a) is None
        assert _db.session.scalar(select(AuditEvent.action)) == "organisation.colleague_removed"
    # One cannot remove oneself.
    response = client.post(f"/my/organisation/colleagues/{people.member_a}/remove",
                           data={"csrf_token": token})
    assert response.status_code == 409


def test_idor_a_cannot_touch_b(client, app, people, auth):
    """Member A posts B's identifiers: 404, and nothing of B changes."""
    auth.member(people.org_a)
    token = csrf_token(client, "/my/organisation")
    assert client.get(f"/my/organisation/colleagues/{people.member_b}/remove").status_code == 404
    assert client.post(f"/my/organisation/colleagues/{people.member_b}/remove",
                       data={"csrf_token": token}).status_code == 404
    assert client.post(f"/my/organisation/invitations/{people.invitation_b}/revoke",
                       data={"csrf_token": token}).status_code == 404
    # Extra fields naming B are ignored: the profile form edits one's own organisation only.
    token = csrf_token(client, "/my/organisation/profile")
    client.post("/my/organisation/profile", data={**PROFILE, "csrf_token": token, "name": "Mine",
                                                  "organisation_id": people.org_b, "slug": "org-b",
                                                  "id": people.org_b})
    assert client.get(f"/admin/organisations/{people.org_b}").status_code == 403
    with app.app_context():
        assert _db.session.get(User, people.member_b) is not None
        assert _db.session.get(Invitation, people.invitation_b).revoked_at is None
        org_b = _db.session.get(Organisation, people.org_b)
        assert org_b.name == "Organisation B" and org_b.slug == "org-b"
        assert _db.session.get(Organisation, people.org_a).name == "Mine"


def test_permission_functions(app, people):
    from objectwar.accounts import permissions

    with app.app_context():
        a, b, coord = (_db.session.get(User, i) for i in (people.member_a, people.member_b,
                                                          people.coordinator))
        org_a, org_b = (_db.session.get(Organisation, i) for i in (people.org_a, people.org_b))
        assert permissions.can_edit_organisation(a, org_a)
        assert not permissions.can_edit_organisation(a, org_b)
        assert not permissions.can_edit_organisation(b, org_a)
        assert permissions.can_edit_organisation(coord, org_a) and permissions.can_edit_organisation(coord, org_b)
        assert permissions.can_manage_organisations(coord) and not permissions.can_manage_organisations(a)
        assert not permissions.can_edit_organisation(None, org_a)
        a.active = False
        assert not permissions.can_edit_organisation(a, org_a)


def test_credited_signatures_with_embed_snippet_and_link(client, app, people, demo, auth):
    from objectwar import security
    from objectwar.demo import PETITION_SLUG
    from objectwar.types import utcnow

    with app.app_context():
        petition = _db.session.scalar(select(Petition).where(Petition.slug == PETITION_SLUG))
        _db.session.add(Petition(slug="draft-one", status=PetitionStatus.DRAFT))
        for n, (org, confirmed) in enumerate([(people.org_a, True), (people.org_a, True),
                                              (people.org_a, False), (people.org_b, True)]):
            email = f"s{n}@x.example"
            _db.session.add(Signature(
                petition_id=petition.id, email_digest=security.email_digest(email), email=email,
                first_name="S", last_name=str(n), country="DE", locale="en", organisation_id=org,
                consent_version="1", confirmed_at=utcnow() if confirmed else None))
        _db.session.commit()
    auth.member(people.org_a)
    page = client.get("/my/organisation").get_data(as_text=True)
    assert "2 confirmed signatures" in page
    assert f"https://objectwar.test/petitions/{PETITION_SLUG}?org=org-a" in page
    assert (f"&lt;iframe src=&#34;https://objectwar.test/petitions/{PETITION_SLUG}/embed?org=org-a&#34;"
            in page)
    assert "draft-one" not in page
    auth.member(people.org_b)
    assert "1 confirmed signature" in client.get("/my/organisation").get_data(as_text=True)


def _png_header_only(width: int, height: int) -> bytes:
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


def test_decompression_bombs_are_refused_before_decoding(client, app, people, auth):
    auth.member(people.org_a)
    for size in ((7000, 7000), (60000, 60000)):
        response = upload(client, _png_header_only(*size), "bomb.png")
        assert response.status_code == 422, size


def test_odd_identifiers_never_500(client, app, people, auth):
    auth.member(people.org_a)
    for path in ("/my/organisation/colleagues/99999999999999999999/remove",
                 "/my/organisation/colleagues/-1/remove", "/my/organisation/colleagues/0/remove",
                 "/organisations/%00", "/organisations/" + "a" * 500, "/organisations/logos/%00.png",
                 "/account/reset/" + "a" * 3000, "/account/invitation/%00%ff", "/account/login?next=%00"):
        assert client.get(path).status_code in (200, 302, 404), path
    coordinator = login_as(app.test_client(), app, people.coordinator)
    for path in ("/admin/organisations/99999999999999999999", "/admin/organisations/2147483647",
                 "/admin/organisations?status=%00", "/admin/organisations/1/explode"):
        assert coordinator.get(path).status_code in (200, 404), path
