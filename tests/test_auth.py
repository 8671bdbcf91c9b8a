"""Bearer tokens: verified once, remembered, and still refused once they expire."""

from __future__ import annotations

import time

import pytest

from milestones import auth

SECRET = "a-test-secret-that-is-long-enough-0123456789"


def test_a_remembered_token_is_refused_once_it_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    token = auth.issue_token(SECRET, "cleo", name="Cleo", expires_in=60)
    assert auth.verify_token(SECRET, token).name == "Cleo"
    assert auth.verify_token(SECRET, token).sub == "cleo"  # served from memory

    later = time.time() + 61
    monkeypatch.setattr(auth.time, "time", lambda: later)

    with pytest.raises(auth.Unauthenticated, match="expired"):
        auth.verify_token(SECRET, token)


def test_a_token_signed_with_another_secret_is_refused_even_after_a_valid_one() -> None:
    token = auth.issue_token(SECRET, "cleo")
    auth.verify_token(SECRET, token)
    with pytest.raises(auth.Unauthenticated):
        auth.verify_token(SECRET + "-other", token)
