"""Link previews (tags, the share image, the icon) and posters with QR codes, without a browser."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from sqlalchemy import update

from objectwar.demo import PETITION_SLUG
from objectwar.extensions import db as _db
from objectwar.petitions import posters, previews
from objectwar.petitions.models import Petition, PetitionStatus
from tests.helpers import login_as

PAGE = f"/petitions/{PETITION_SLUG}"
IMAGE = f"{PAGE}/share.png"
TITLES = {"en": "Protection and asylum for those who refuse to fight",
          "de": "Schutz und Asyl für alle, die sich dem Krieg verweigern",
          "ru": "Защита и убежище для тех, кто отказывается воевать"}


def _image(response) -> Image.Image:
    assert response.status_code == 200 and response.mimetype == "image/png"
    return Image.open(io.BytesIO(response.data))


def _set_count(app, count: int) -> None:
    with app.app_context():
        _db.session.execute(update(Petition).where(Petition.slug == PETITION_SLUG)
                            .values(signature_count=count))
        _db.session.commit()


def test_share_image_is_a_png_of_1200_by_630_with_the_title_in_the_pages_language(client, demo):
    drawn = {}
    for locale in ("en", "de", "ru"):
        response = client.get(f"{IMAGE}?locale={locale}")
        image = _image(response)
        assert (image.format, image.size) == ("PNG", (1200, 630))
        assert image.text["Title"] == TITLES[locale]
        assert "public" in response.headers["Cache-Control"]
        drawn[locale] = response.data
    assert len(set(drawn.values())) == 3  # each language its own drawing
    # Without ?locale=, the visitor's language, as for the page.
    response = client.get(IMAGE, headers={"Accept-Language": "de-DE,de;q=0.9"})
    assert response.data == drawn["de"] and "Accept-Language" in response.headers["Vary"]
    again = client.get(f"{IMAGE}?locale=en", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 200  # another language, another tag
    etag = client.get(f"{IMAGE}?locale=en").headers["ETag"]
    assert client.get(f"{IMAGE}?locale=en", headers={"If-None-Match": etag}).status_code == 304
    assert client.get("/petitions/no-such-petition/share.png").status_code == 404


def test_share_image_is_redrawn_only_when_the_count_crosses_a_round_number(app, client, demo, monkeypatch):
    drawings = []
    draw = previews.draw
    monkeypatch.setattr(previews, "draw", lambda *args: drawings.append(args[1]) or draw(*args))

    def og_image() -> str:
        page = client.get(f"{PAGE}?lang=en").get_data(as_text=True)
        return page.split('<meta property="og:image" content="', 1)[1].split('"', 1)[0]

    _set_count(app, 1234)
    first = client.get(f"{IMAGE}?locale=en").data
    assert og_image().endswith("share.png?locale=en&amp;v=1200")
    _set_count(app, 1299)
    assert client.get(f"{IMAGE}?locale=en").data == first  # still "at least 1,200"
    assert og_image().endswith("v=1200")
    _set_count(app, 1300)
    assert client.get(f"{IMAGE}?locale=en").data != first
    assert og_image().endswith("v=1300")
    assert drawings == ["At least 1,200 signatures · goal: 100,000",
                        "At least 1,300 signatures · goal: 100,000"]


@pytest.mark.parametrize(("count", "shown"), [(0, 0), (7, 7), (99, 99), (100, 100), (123, 120),
                                              (1_234, 1_200), (56_789, 56_000), (100_000, 100_000)])
def test_the_round_numbers_the_image_shows(count, shown):
    assert previews.count_floor(count) == shown


def test_share_image_never_fails_for_want_of_a_font_or_of_room(app, monkeypatch):
    monkeypatch.setattr(previews, "FONT_DIRS", ())
    previews._font.cache_clear()
    try:
        with app.test_request_context():
            for title in ("Short", "Очень " * 80, "x" * 400):
                image = Image.open(io.BytesIO(previews.draw(title, "1 signature", 2.0)))
                assert image.size == (1200, 630)
    finally:
        previews._font.cache_clear()


def test_petition_page_names_its_preview_and_others_do_not(client, app, demo, people):
    page = client.get(f"{PAGE}?lang=ru").get_data(as_text=True)
    assert '<meta property="og:title" content="Защита и убежище для тех, кто отказывается воевать">' in page
    assert '<meta property="og:locale" content="ru_RU">' in page
    assert '<link rel="canonical" href="https://objectwar.test/petitions/protect-objectors?lang=ru">' in page
    assert '<meta name="description" content="' in page
    assert 'rel="icon"' in page
    embed = client.get(f"{PAGE}/embed").get_data(as_text=True)
    assert "og:title" not in embed
    coordinator = login_as(app.test_client(), app, people.coordinator)
    preview = coordinator.get(f"/admin/petitions/{PETITION_SLUG}/preview").get_data(as_text=True)
    assert "og:title" not in preview


def test_favicon_is_served(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200 and response.mimetype == "image/vnd.microsoft.icon"
    assert Image.open(io.BytesIO(response.data)).format == "ICO"
    assert "max-age" in response.headers["Cache-Control"]
    assert client.get("/static/favicon.svg").mimetype == "image/svg+xml"


def test_qr_codes_carry_the_organisations_credit(app, client, demo, people):
    zxingcpp = pytest.importorskip("zxingcpp")
    member = login_as(app.test_client(), app, people.member_a)
    png = member.get(f"/my/organisation/petitions/{PETITION_SLUG}/qr.png")
    (code,) = zxingcpp.read_barcodes(_image(png))
    assert code.text == f"https://objectwar.test{PAGE}?org=org-a"
    svg = member.get(f"/my/organisation/petitions/{PETITION_SLUG}/qr.svg")
    assert svg.mimetype == "image/svg+xml" and "default-src 'none'" in svg.headers["Content-Security-Policy"]
    with app.test_request_context():
        assert svg.get_data(as_text=True) == posters.qr_svg(code.text)
    poster = member.get(f"/my/organisation/petitions/{PETITION_SLUG}/poster?locale=uk")
    assert poster.status_code == 200
    assert f"https://objectwar.test{PAGE}?org=org-a" in poster.get_data(as_text=True)

    coordinator = login_as(app.test_client(), app, people.coordinator)
    base = f"/admin/petitions/{PETITION_SLUG}"
    (code,) = zxingcpp.read_barcodes(_image(coordinator.get(f"{base}/qr.png?org=org-b")))
    assert code.text == f"https://objectwar.test{PAGE}?org=org-b"
    (code,) = zxingcpp.read_barcodes(_image(coordinator.get(f"{base}/qr.png")))
    assert code.text == f"https://objectwar.test{PAGE}"
    # A poster must not credit nobody by a typing mistake.
    assert coordinator.get(f"{base}/poster?org=org-typo").status_code == 404
    assert coordinator.get(f"{base}/qr.svg?org=org-typo").status_code == 404


def test_a_drafts_poster_is_for_coordinators_only(app, demo, people):
    with app.app_context():
        _db.session.execute(update(Petition).where(Petition.slug == PETITION_SLUG)
                            .values(status=PetitionStatus.DRAFT))
        _db.session.commit()
    coordinator = login_as(app.test_client(), app, people.coordinator)
    poster = coordinator.get(f"/admin/petitions/{PETITION_SLUG}/poster?locale=de&org=org-a")
    assert poster.status_code == 200
    assert TITLES["de"] in poster.get_data(as_text=True)
    member = login_as(app.test_client(), app, people.member_a)
    assert member.get(f"/my/organisation/petitions/{PETITION_SLUG}/poster").status_code == 404
    assert member.get(f"/my/organisation/petitions/{PETITION_SLUG}/qr.png").status_code == 404
