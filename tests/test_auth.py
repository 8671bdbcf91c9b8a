"""Bearer tokens: verified once, remembered, and still refused once they expire."""

from __future__ import annotations

import time

import pytest

from milestones import auth

SECRET = "a-test-secret-that-is-long-enough-0123456789"


def test_a_remembered_token_is_refused_once_it_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    verifier = auth.TokenVerifier(SECRET)
    token = auth.issue_token(SECRET, "cleo", name="Cleo", expires_in=60)
    assert verifier.verify(token).claims.name == "Cleo"
    assert verifier.verify(token).claims.sub == "cleo"  # served from memory

    later = time.time() + 61
    monkeypatch.setattr(auth.time, "time", lambda: later)

    with pytest.raises(auth.Unauthenticated, match="expired"):
        verifier.verify(token)


def test_a_token_signed_with_another_secret_is_refused_even_after_a_valid_one() -> None:
    token = auth.issue_token(SECRET, "cleo")
    auth.TokenVerifier(SECRET).verify(token)
    with pytest.raises(auth.Unauthenticated):
        auth.TokenVerifier(SECRET + "-other").verify(token)


def test_production_refuses_a_token_without_exp() -> None:
    import jwt

    token = jwt.encode({"sub": "cleo"}, SECRET, algorithm="HS256")
    assert auth.TokenVerifier(SECRET).verify(token).expires_at is None
    with pytest.raises(auth.Unauthenticated, match="exp"):
        auth.TokenVerifier(SECRET, require_exp=True).verify(token)
