"""Credentials at rest: round trip, rotation, tampering and a missing key."""

from __future__ import annotations

import pytest

from langnghe.secrets import SecretBox, SecretKeyMissing, SecretUnreadable, mask, new_key


def test_round_trip_and_ciphertext_hides_plaintext() -> None:
    box = SecretBox(new_key())
    token = box.encrypt("xoxb-hooks.slack.com/services/T0/B0/secret")
    assert "secret" not in token
    assert box.decrypt(token) == "xoxb-hooks.slack.com/services/T0/B0/secret"


def test_rotation_keeps_old_secrets_readable() -> None:
    old, new = new_key(), new_key()
    token = SecretBox(old).encrypt("mật khẩu")
    rotated_box = SecretBox(f"{new},{old}")
    assert rotated_box.decrypt(token) == "mật khẩu"
    fresh = rotated_box.rotate(token)
    assert SecretBox(new).decrypt(fresh) == "mật khẩu"
    with pytest.raises(SecretUnreadable):
        SecretBox(old).decrypt(fresh)


def test_tampered_token_and_wrong_key_fail_clearly() -> None:
    box = SecretBox(new_key())
    token = box.encrypt("p")
    with pytest.raises(SecretUnreadable):
        box.decrypt(token[:-4] + "AAAA")
    with pytest.raises(SecretUnreadable):
        SecretBox(new_key()).decrypt(token)


@pytest.mark.parametrize("keys", [None, "", " , "])
def test_missing_key_names_the_setting(keys: str | None) -> None:
    with pytest.raises(SecretKeyMissing, match="LANGNGHE_SECRET_KEY"):
        SecretBox(keys)


def test_malformed_key_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="Fernet keys"):
        SecretBox("not-a-key")


def test_mask_shows_only_the_tail() -> None:
    assert mask("abcdefghijkl") == "…ijkl"
    assert mask("short") == "…"
