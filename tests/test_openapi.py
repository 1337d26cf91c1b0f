"""The OpenAPI document describes every route of the API, and only those."""

import re


def _api_routes(app) -> set[tuple[str, str]]:
    """``(path as in the document, METHOD)`` of every route under ``/api/v1``."""
    routes = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        path = re.sub(r"<(?:\w+(?:\([^)]*\))?:)?(\w+)>", r"{\1}", rule.rule[len("/api/v1"):])
        routes |= {(path, method) for method in rule.methods - {"HEAD", "OPTIONS"}}
    return routes


def test_openapi_document_covers_every_api_route(app, client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    document = response.get_json()
    assert document["openapi"].startswith("3.")
    assert document["servers"] == [{"url": "https://objectwar.test/api/v1"}]
    documented = {
        (path, method.upper()) for path, item in document["paths"].items() for method in item
    }
    for path, method in _api_routes(app):
        assert (path, method) in documented, f"{method} {path} is not in the OpenAPI document"


def test_openapi_references_resolve(client):
    document = client.get("/api/v1/openapi.json").get_json()
    schemas = document["components"]["schemas"]
    refs = re.findall(r'"\$ref": "#/components/schemas/(\w+)"', str(document).replace("'", '"'))
    assert refs
    for name in refs:
        assert name in schemas


def test_openapi_document_describes_only_routes_that_exist(app, client):
    document = client.get("/api/v1/openapi.json").get_json()
    documented = {
        (path, method.upper()) for path, item in document["paths"].items() for method in item
    }
    assert documented == _api_routes(app)


def test_every_operation_documents_its_error_answers(client):
    """Bodies may be refused as unreadable, too large, not JSON or invalid; tokens as missing
    or not a coordinator's; the database may be briefly away."""
    document = client.get("/api/v1/openapi.json").get_json()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            codes = set(operation["responses"])
            if "requestBody" in operation:
                assert {"400", "413", "415", "422"} <= codes, (method, path)
            if operation.get("security"):
                assert {"401", "403"} <= codes, (method, path)
                assert "WWW-Authenticate" in operation["responses"]["401"]["headers"]
            if "{" in path:
                assert "404" in codes, (method, path)
            if path != "/openapi.json":
                assert "503" in codes, (method, path)
    signing = document["paths"]["/petitions/{slug}/signatures"]["post"]["responses"]
    assert "Retry-After" in signing["429"]["headers"]


def test_documented_locales_and_countries_are_the_codes_the_code_takes(app, client):
    from objectwar.validation import country_codes

    document = client.get("/api/v1/openapi.json").get_json()
    schemas = document["components"]["schemas"]
    lang = document["paths"]["/petitions"]["get"]["parameters"][0]
    assert lang["schema"]["enum"] == list(app.config["LANGUAGES"])
    assert schemas["SignatureRequest"]["properties"]["locale"]["enum"] == [
        *app.config["LANGUAGES"], None]  # null: the request's language
    assert schemas["SignatureRequest"]["properties"]["country"]["enum"] == country_codes()


def test_names_are_documented_as_the_code_takes_them(client):
    """The probe found empty names refused though the document allowed them."""
    document = client.get("/api/v1/openapi.json").get_json()
    name = document["components"]["schemas"]["SignatureRequest"]["properties"]["first_name"]
    assert (name["minLength"], name["maxLength"]) == (1, 100)
    for refused in ("", "   ", "A\rB", "\u202eX", "\x00"):
        assert not re.search(name["pattern"], refused), refused
    for taken in ("Anna", "  Anna Müller  ", "Ли", "O'Neil-Smith"):
        assert re.search(name["pattern"], taken), taken


def test_openapi_lists_400_and_415_where_a_body_is_read(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for operations in paths.values():
        for operation in operations.values():
            if "requestBody" in operation:
                assert {"400", "415"} <= set(operation["responses"])
