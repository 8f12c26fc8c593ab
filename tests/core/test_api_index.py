"""`/api/v1/` is the API's front door, not Django's debug 404."""

from apps.core.api_index import RESOURCES, collection_routes


def test_it_lists_the_resources_and_where_the_schema_and_docs_are(client, db):
    response = client.get("/api/v1/")
    assert response.status_code == 200
    body = response.json()
    assert body["schema"] == "http://testserver/api/schema/"
    assert body["docs"] == "http://testserver/api/docs/"
    by_name = {resource["name"]: resource for resource in body["resources"]}
    assert by_name["apis"]["url"] == "http://testserver/api/v1/apis/"
    assert "catalog" in by_name["apis"]["description"]
    assert {"subscriptions", "keys", "invoices", "provider/balance"} <= set(by_name)


def test_links_follow_the_address_the_site_is_served_on(client, db):
    body = client.get("/api/v1/", HTTP_HOST="127.0.0.1:8301").json()
    assert body["schema"] == "http://127.0.0.1:8301/api/schema/"
    assert all(r["url"].startswith("http://127.0.0.1:8301/api/v1/") for r in body["resources"])


def test_every_listed_link_answers(owner_client):
    for resource in owner_client.get("/api/v1/").json()["resources"]:
        path = resource["url"].removeprefix("http://testserver")
        assert owner_client.get(path).status_code != 404, path


def test_every_collection_route_has_a_description():
    missing = [route for route in collection_routes() if not RESOURCES.get(route)]
    assert not missing, f"describe these in apps.core.api_index.RESOURCES: {missing}"
