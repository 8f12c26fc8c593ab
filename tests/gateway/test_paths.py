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
        b"/%c0%ae%c0%ae/x",  # overlong UTF-8 dots
        b"/%e0%80%ae./x",
        b"/..%c0%afx",  # overlong slash
        b"/..%c1%9cx",  # overlong backslash
        b"/%ef%bc%8e%ef%bc%8e/x",  # full-width dots, NFKC ..
        b"/\xef\xbc\x8e\xef\xbc\x8e/x",  # the same sent raw
        b"/%e2%80%a5/x",  # two dot leader, NFKC ..
        b"/..%ef%bc%8fx",  # full-width solidus
        b"/..%ef%bc%bcx",  # full-width reverse solidus
    ],
)
def test_dot_segments_are_found_however_they_are_written(raw):
    assert leaves_base_path(raw)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"/",
        b"/echo",
        b"/v1.2/x",
        b"/..x/y",
        b"/x../y",
        b"/a%2Fb",
        b"/%41%42",
        b"/caf%C3%A9",
        b"/caf\xc3\xa9/na\xc3\xafve",
        b"/%ef%bc%8ex",  # a full-width dot inside a name
        b"/%c0%ae%c0%aex",
    ],
)
def test_ordinary_paths_pass(raw):
    assert not leaves_base_path(raw)
