"""Which raw paths hold a dot segment under some reading (the gateway's base-path rule)."""

import pytest

from apps.gateway.paths import leaves_base_path


@pytest.mark.parametrize(
    "raw",
    [
        b"/..",
        b"/.",
        b"/a/./b",
        b"/%2e",
        b"/%2E%2e/x",
        b"/..%00/x",
        b"/%2e%2e%00.txt/x",
        b"/.. /x",
        b"/. ./x",
        b"/.../x",
        b"/....//x",
        b"/x\\..\\y",
        b"/%25252e%25252e/x",
        b"/%2525252525252e%2e/x",  # five rounds deep: refused without finishing
    ],
)
def test_dot_segments_are_found_however_they_are_written(raw):
    assert leaves_base_path(raw)


@pytest.mark.parametrize(
    "raw",
    [b"", b"/", b"/echo", b"/v1.2/x", b"/..x/y", b"/x../y", b"/a%2Fb", b"/%41%42", b"/caf%C3%A9"],
)
def test_ordinary_paths_pass(raw):
    assert not leaves_base_path(raw)
