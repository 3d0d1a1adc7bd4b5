"""The error hierarchy's contract: stable dotted codes, one JSON shape, a hint for every error."""

from __future__ import annotations

import http
import re

import pytest

from shuyu import errors
from shuyu.errors import ShuyuError, all_error_codes

CODE = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+")


def _all_subclasses(cls: type[ShuyuError]) -> list[type[ShuyuError]]:
    found = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_all_subclasses(sub))
    return found


def test_registry_is_not_empty_and_includes_the_root():
    codes = all_error_codes()
    assert len(codes) > 10
    assert codes["shuyu.error"] is ShuyuError


@pytest.mark.parametrize("code", sorted(all_error_codes()))
def test_codes_are_dotted_lower_case(code):
    assert CODE.fullmatch(code), code


def test_every_class_with_its_own_code_is_registered_once():
    classes = [ShuyuError, *_all_subclasses(ShuyuError)]
    own = [cls for cls in classes if "code" in cls.__dict__]
    codes = [cls.code for cls in own]
    assert len(codes) == len(set(codes)), "two classes share a code"
    for cls in own:
        assert all_error_codes()[cls.code] is cls


def test_every_error_class_in_the_module_declares_its_own_code():
    # A subclass that forgets `code` would silently reuse its parent's.
    module_classes = [
        value
        for value in vars(errors).values()
        if isinstance(value, type) and issubclass(value, ShuyuError)
    ]
    for cls in module_classes:
        assert "code" in cls.__dict__, f"{cls.__name__} has no code of its own"


def test_a_duplicate_code_is_refused_and_not_registered():
    before = dict(all_error_codes())
    with pytest.raises(TypeError, match="already"):

        class Duplicate(ShuyuError):
            code = "config.invalid"

    assert all_error_codes() == before


@pytest.mark.parametrize(("code", "cls"), sorted(all_error_codes().items()))
def test_status_is_a_valid_http_error_status(code, cls):
    assert cls.status in {status.value for status in http.HTTPStatus}, code
    assert 400 <= cls.status <= 599, code


@pytest.mark.parametrize(("code", "cls"), sorted(all_error_codes().items()))
def test_every_error_has_a_hint(code, cls):
    error = cls("something went wrong")
    assert error.hint.strip(), code
    assert error.hint == cls.default_hint


@pytest.mark.parametrize(("code", "cls"), sorted(all_error_codes().items()))
def test_to_dict_shape(code, cls):
    body = cls("what happened").to_dict()
    assert body == {
        "ok": False,
        "code": code,
        "error": "what happened",
        "hint": cls.default_hint,
        "status": cls.status,
    }


def test_explicit_hint_overrides_the_default_and_str_shows_the_code():
    error = errors.PeerUnavailable("party 2 did not answer", hint="Start party 2.")
    assert error.hint == "Start party 2."
    assert error.to_dict()["hint"] == "Start party 2."
    assert str(error) == "[mpc.peer_unavailable] party 2 did not answer"
    assert isinstance(error, errors.MpcError)
    assert isinstance(error, ShuyuError)


def test_identity_errors_share_a_parent():
    for cls in (
        errors.CaExists,
        errors.CaMissing,
        errors.InvalidName,
        errors.CertificateExists,
        errors.UntrustedPeer,
    ):
        assert issubclass(cls, errors.IdentityError)
