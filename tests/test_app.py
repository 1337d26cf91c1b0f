"""The application shell: pages, API shape, headers, errors, locale choice."""

from objectwar.demo import PETITION_SLUG


def test_home_lists_open_petition_and_members(client, demo):
    response = client.get("/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Protection and asylum for those who refuse to fight" in page
    assert "Connection e.V." in page
    assert "<progress" in page


def test_api_petitions_lists_demo_petition_with_four_demands(client, demo):
    response = client.get("/api/v1/petitions")
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    (petition,) = response.get_json()["petitions"]
    assert set(petition) == {"slug", "title", "summary", "status", "goal", "signatures", "by_country",
                             "demands", "locale"}
    assert petition["by_country"] == {}
    assert petition["slug"] == PETITION_SLUG
    assert petition["status"] == "open"
    assert petition["signatures"] == 0
    assert [d["position"] for d in petition["demands"]] == [1, 2, 3, 4]


def test_api_petition_in_requested_language(client, demo):
    data = client.get(f"/api/v1/petitions/{PETITION_SLUG}?lang=uk").get_json()
    assert data["locale"] == "uk"
    assert data["title"].startswith("Захист")
    data = client.get(f"/api/v1/petitions/{PETITION_SLUG}", headers={"Accept-Language": "be,ru;q=0.8"}).get_json()
    assert data["locale"] == "be"


def test_api_unknown_petition_is_json_404(client, demo):
    response = client.get("/api/v1/petitions/nope")
    assert response.status_code == 404
    assert response.get_json() == {"errors": {"slug": ["There is no petition at this address."]}}


def test_api_unknown_route_and_method_are_json(client):
    assert client.get("/api/v1/nothing").get_json()["errors"]
    response = client.delete("/api/v1/petitions")
    assert response.status_code == 405
    assert "errors" in response.get_json()


def test_html_404_page(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert "text/html" in response.content_type
    assert "This page does not exist." in response.get_data(as_text=True)


def test_security_headers_on_every_page(client, demo):
    for path in ("/", f"/petitions/{PETITION_SLUG}", "/api/v1/petitions", "/nowhere"):
        headers = client.get(path).headers
        csp = headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp
        assert "default-src 'self'" in csp
        assert "http" not in csp  # no other host is allowed anywhere
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
        assert "Strict-Transport-Security" not in headers  # plain HTTP here


def test_hsts_over_https(client):
    response = client.get("/", base_url="https://objectwar.test")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_pages_load_nothing_from_other_hosts(client, demo):
    import re

    for path in ("/", f"/petitions/{PETITION_SLUG}"):
        page = client.get(path).get_data(as_text=True)
        # The page's own public addresses (canonical, other languages) name it and load nothing.
        page = re.sub(r'<link rel="(canonical|alternate)" [^>]*href="https://objectwar\.test/[^>]*>', "", page)
        assert not re.search(r'(src|href)="(https?:)?//', page)


def test_locale_from_query_then_cookie_then_browser(client, demo):
    page = client.get("/?lang=de").get_data(as_text=True)
    assert '<html lang="de"' in page
    # The choice sticks through the cookie...
    assert '<html lang="de"' in client.get("/").get_data(as_text=True)
    # ...over the browser's wish, until another ?lang= comes.
    assert '<html lang="de"' in client.get("/", headers={"Accept-Language": "ru"}).get_data(as_text=True)
    assert '<html lang="uk"' in client.get("/?lang=uk").get_data(as_text=True)


def test_browser_language_when_nothing_chosen(client):
    page = client.get("/", headers={"Accept-Language": "ru-RU,ru;q=0.9,en;q=0.5"}).get_data(as_text=True)
    assert '<html lang="ru"' in page
    assert '<html lang="en"' in client.get("/?lang=xx").get_data(as_text=True)


def test_dev_outbox_is_not_served_outside_development(client):
    assert client.get("/dev/outbox").status_code == 404


def test_behind_a_proxy_the_forwarded_scheme_and_client_count(database_urls, instance_dir):
    from tests.conftest import make_app

    proxied = make_app(database_urls["sqlite"], instance_dir, PROXY_FIX_HOPS=1)
    client = proxied.test_client()
    response = client.get("/", headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.4"})
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    # Without the setting, forwarded headers are not trusted.
    direct = make_app(database_urls["sqlite"], instance_dir).test_client()
    assert "Strict-Transport-Security" not in direct.get(
        "/", headers={"X-Forwarded-Proto": "https"}).headers


def test_functions_made_for_one_request_are_not_kept(database_urls, instance_dir):
    """The app remembers which views and hooks are sync, not every callback ever seen."""
    import gc

    from flask import after_this_request

    from tests.conftest import make_app

    app = make_app(database_urls["sqlite"], instance_dir)

    @app.get("/with-callback")
    def with_callback():
        @after_this_request
        def callback(response):
            response.headers["X-Callback"] = "1"
            return response
        return "ok"

    client = app.test_client()
    for _ in range(20):
        assert client.get("/with-callback").headers["X-Callback"] == "1"
    gc.collect()
    assert len(app._known_sync) < 20


def test_visitors_without_a_session_get_no_cookie_but_vary(client, demo):
    """No cookie is set or cleared for an empty session; caches still learn the
    answer depends on the cookie (Flask-Login reads the session on every answer)."""
    response = client.get("/api/v1/petitions")
    assert "Set-Cookie" not in response.headers
    assert "Cookie" in response.vary
    client.set_cookie("session", "not-a-signed-session")  # tampered or from an old key
    response = client.get("/api/v1/petitions")
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
