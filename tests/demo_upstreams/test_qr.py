import io
import re

import pytest
from PIL import Image

pytestmark = pytest.mark.urls("tests.demo_upstreams.urls")

QR = "/demo-upstreams/qr/qr"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# "hello" fits a version 1 code at level M: 21 modules a side.
HELLO_MODULES = 21


def png_size(content: bytes) -> tuple[int, int]:
    return Image.open(io.BytesIO(content)).size


def svg_width(content: bytes) -> int:
    return int(re.search(rb'<svg[^>]* width="(\d+)"', content).group(1))


def test_get_returns_a_png_by_default(client):
    response = client.get(QR, {"data": "hello"})

    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"] == 'inline; filename="qr.png"'
    assert response.content.startswith(PNG_MAGIC)
    # Default scale 4 and border 4: (21 + 2 * 4) modules of 4 px.
    assert png_size(response.content) == ((HELLO_MODULES + 8) * 4,) * 2


def test_svg_is_an_svg_document_with_the_requested_colours(client):
    colours = {"dark": "1d3557", "light": "#f1faee"}

    response = client.get(QR, {"data": "hello", "format": "svg", **colours})

    assert response["Content-Type"] == "image/svg+xml"
    svg = response.content.decode()
    assert svg.startswith("<?xml") and "<svg" in svg and svg.rstrip().endswith("</svg>")
    assert "#1d3557" in svg and "#f1faee" in svg


def test_scale_and_border_change_the_image_size(client):
    small = client.get(QR, {"data": "hello", "scale": 2, "border": 0}).content
    large = client.get(QR, {"data": "hello", "scale": 10, "border": 0}).content
    framed = client.get(QR, {"data": "hello", "scale": 10, "border": 10}).content

    assert png_size(small) == (HELLO_MODULES * 2,) * 2
    assert png_size(large) == (HELLO_MODULES * 10,) * 2
    assert png_size(framed) == ((HELLO_MODULES + 20) * 10,) * 2
    assert len(small) < len(large)


def test_svg_size_follows_scale_too(client):
    svg = client.get(QR, {"data": "hello", "format": "svg", "scale": 3, "border": 1}).content

    assert svg_width(svg) == (HELLO_MODULES + 2) * 3


def test_a_higher_error_level_needs_a_bigger_code(client):
    data = "https://example.com/tollgate/qr"
    low = client.get(QR, {"data": data, "error": "L", "scale": 1, "border": 0}).content
    high = client.get(QR, {"data": data, "error": "h", "scale": 1, "border": 0}).content

    assert png_size(high)[0] > png_size(low)[0]


def test_post_with_json_gives_the_same_image_as_get(client):
    options = {"data": "hello", "format": "svg", "scale": 6, "border": 2, "error": "Q"}

    posted = client.post(QR, options, content_type="application/json")
    fetched = client.get(QR, options)

    assert posted.status_code == 200
    assert posted["Content-Type"] == "image/svg+xml"
    assert posted.content == fetched.content


def test_a_transparent_background_leaves_the_corner_transparent(client):
    content = client.get(QR, {"data": "hello", "light": "transparent"}).content

    assert Image.open(io.BytesIO(content)).convert("RGBA").getpixel((0, 0))[3] == 0


def test_unicode_data_is_encoded(client):
    response = client.get(QR, {"data": "Grüße aus Zürich ✓"})

    assert response.status_code == 200 and response.content.startswith(PNG_MAGIC)


def test_two_thousand_characters_fit_at_level_l(client):
    response = client.post(QR, {"data": "a" * 2000, "error": "L"}, content_type="application/json")

    assert response.status_code == 200


def test_more_than_two_thousand_characters_are_413(client):
    response = client.get(QR, {"data": "a" * 2001})

    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"


def test_data_that_does_not_fit_the_error_level_is_422(client):
    response = client.post(QR, {"data": "a" * 2000, "error": "H"}, content_type="application/json")

    assert response.status_code == 422
    assert response.json()["error"] == "data_too_long_for_qr"


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({}, "missing_field"),
        ({"data": ""}, "invalid_field"),
        ({"data": "x", "format": "gif"}, "invalid_field"),
        ({"data": "x", "format": "png" * 100}, "invalid_field"),
        ({"data": "x", "scale": "0"}, "invalid_field"),
        ({"data": "x", "scale": "21"}, "invalid_field"),
        ({"data": "x", "scale": "big"}, "invalid_field"),
        ({"data": "x", "border": "11"}, "invalid_field"),
        ({"data": "x", "error": "X"}, "invalid_field"),
        ({"data": "x", "dark": "black"}, "invalid_field"),
        ({"data": "x", "dark": "transparent"}, "invalid_field"),
        ({"data": "x", "light": "12345"}, "invalid_field"),
    ],
)
def test_bad_options_are_422(client, params, error):
    response = client.get(QR, params)

    assert response.status_code == 422
    assert response.json()["error"] == error


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ("not json", 400),
        ('"hello"', 400),
        ('{"data": 5}', 422),
        ('{"data": "x", "scale": 2.5}', 422),
        ('{"data": "x", "scale": true}', 422),
        ('{"data": "' + "a" * 40_000 + '"}', 413),
    ],
)
def test_bad_json_bodies_are_refused(client, body, status):
    response = client.post(QR, body, content_type="application/json")

    assert response.status_code == status
    assert set(response.json()) == {"error", "detail"}


def test_other_methods_are_405(client):
    response = client.put(QR, "{}", content_type="application/json")

    assert response.status_code == 405
    assert response["Allow"] == "GET, POST"
