"""Headers the gateway sets upstream cannot be sent by the consumer under another spelling:
`X_Tollgate_Proxy_Secret` is the same header to many servers (CGI, WSGI and PHP turn `-`
into `_`), so an incoming name is compared after `_` becomes `-`."""

import pytest

pytestmark = pytest.mark.django_db(transaction=True)

SPOOFED = {
    "X_Tollgate_Proxy_Secret": "spoofed-secret",
    "X_TOLLGATE_CONSUMER": "org_spoofed",
    "x_tollgate-signature": "v1=spoofed",
    "X-Tollgate_Plan": "plan_spoofed",
    "X_Forwarded_For": "203.0.113.66",
    "X_Forwarded_Host": "evil.example",
    "X_Forwarded_Proto": "gopher",
    "X_Api_Key": "tg_leaked-through-a-second-header",
    "Proxy_Authorization": "Basic c3Bvb2Y6c3Bvb2Y=",
}


def test_underscored_names_of_headers_the_gateway_sets_are_dropped(world):
    response = world.call("/echo", headers={**SPOOFED, "X_Custom_Header": "kept"})
    assert response.status_code == 200
    received = world.upstream.received[-1]["headers"]
    assert not set(SPOOFED.values()) & set(received.values()), received
    assert [name.lower() for name in received if "_" in name] == ["x_custom_header"]
    assert received["x_custom_header"] == "kept"  # other underscored names pass as sent
    assert received["X-Tollgate-Proxy-Secret"] == world.api.proxy_secret
    assert received["X-Forwarded-For"] == "127.0.0.1"
