"""PUBLIC_URL and the links built from it."""

from __future__ import annotations

import pydantic
import pytest

from milestones.cli import served_url
from milestones.config import Settings
from milestones.emails.links import EmailLinks, verified_user
from tests.helpers import global_id


def test_public_url_defaults_to_the_served_address() -> None:
    assert Settings(public_url=None).public_base_url == "http://127.0.0.1:8000"
    assert Settings(public_url="").public_url is None
    assert Settings(public_url="https://rooms.example.com/").public_base_url == (
        "https://rooms.example.com"
    )
    assert served_url("127.0.0.1", 8123) == "http://127.0.0.1:8123"
    assert served_url("0.0.0.0", 80) == "http://localhost:80"
    assert served_url("::1", 8000) == "http://[::1]:8000"


@pytest.mark.parametrize("url", ["rooms.example.com", "ftp://x", "https://a b", "javascript:x"])
def test_public_url_must_be_an_http_url(url: str) -> None:
    with pytest.raises(pydantic.ValidationError):
        Settings(public_url=url)


def test_message_ids_name_the_public_host_and_nothing_else() -> None:
    assert EmailLinks.of("https://Rooms.Example.com:8443/x", "k").message_id_domain == (
        "rooms.example.com"
    )
    assert EmailLinks.of("http://[::1]:8000", "k").message_id_domain == "1"


def test_an_unsubscribe_link_verifies_for_its_user_only_and_under_its_key() -> None:
    links = EmailLinks.of("https://rooms.example.com", "the secret")
    url = links.unsubscribe(42)
    signature = url.rsplit("signature=", 1)[1]
    assert verified_user(links.key, global_id("User", 42), signature) == 42
    assert verified_user(links.key, global_id("User", 43), signature) is None
    assert verified_user(links.key, global_id("Contract", 42), signature) is None
    other_key = EmailLinks.of("https://rooms.example.com", "another secret").key
    assert verified_user(other_key, global_id("User", 42), signature) is None
    assert verified_user(links.key, global_id("User", 42), signature[:-1]) is None
    assert verified_user(links.key, "garbage", signature) is None
