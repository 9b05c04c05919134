"""The token format: HS512 pinned, exp/iat and identity claims required, rotation-aware verification."""

import base64
import json
import time

import jwt
import pytest

from hermes_notifications import tokens
from hermes_notifications.config import JwtSettings

KEY = "k" * 64
OLD_KEY = "o" * 64
SECRET = tokens.new_secret()
TID = tokens.new_token_id()


def make(**overrides):
    claims = {
        "user_id": "u1",
        "room_id": "r1",
        "jti": TID,
        "token": SECRET,
        "iat": int(time.time()),
        "exp": int(time.time()) + 3600,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def b64(obj) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def test_round_trip_gives_the_claims():
    # GIVEN a token issued with the current key
    token = tokens.encode(user_id="u1", room_id="r1", token_id=TID, secret=SECRET, key=KEY, ttl_seconds=60)
    # WHEN it is verified
    claims = tokens.decode(token, [KEY])
    # THEN identity, token id and secret come back and the header names HS512
    assert (claims.user_id, claims.room_id, claims.token_id, claims.secret) == ("u1", "r1", TID, SECRET)
    assert jwt.get_unverified_header(token)["alg"] == "HS512"


def test_previous_key_is_accepted_during_rotation_and_unknown_key_is_not():
    token = tokens.encode(user_id="u1", room_id="r1", token_id=TID, secret=SECRET, key=OLD_KEY, ttl_seconds=60)
    assert tokens.decode(token, [KEY, OLD_KEY]).user_id == "u1"
    with pytest.raises(tokens.InvalidToken, match="bad signature"):
        tokens.decode(token, [KEY])


@pytest.mark.parametrize(
    ("label", "token", "reason"),
    [
        ("wrong key", jwt.encode(make(), "x" * 64, algorithm="HS512"), "bad signature"),
        ("HS256 with the right key", jwt.encode(make(), KEY, algorithm="HS256"), "algorithm not allowed"),
        ("alg none", f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(make())}.", "algorithm not allowed"),
        ("expired", jwt.encode(make(exp=int(time.time()) - 120), KEY, algorithm="HS512"), "token expired"),
        ("no exp", jwt.encode(make(exp=None), KEY, algorithm="HS512"), "missing claim exp"),
        ("no iat", jwt.encode(make(iat=None), KEY, algorithm="HS512"), "missing claim iat"),
        ("no user_id", jwt.encode(make(user_id=None), KEY, algorithm="HS512"), "missing claim user_id"),
        ("room_id not an id", jwt.encode(make(room_id="a#b"), KEY, algorithm="HS512"), "malformed claims"),
        ("no token", jwt.encode(make(token=None), KEY, algorithm="HS512"), "missing claim token"),
        ("no jti", jwt.encode(make(jti=None), KEY, algorithm="HS512"), "missing claim jti"),
        ("jti not hex", jwt.encode(make(jti="../../x"), KEY, algorithm="HS512"), "malformed claims"),
        ("room id with #", jwt.encode(make(room_id="r#x"), KEY, algorithm="HS512"), "malformed claims"),
        ("numeric user_id", jwt.encode(make(user_id=42), KEY, algorithm="HS512"), "malformed claims"),
        ("short opaque token", jwt.encode(make(token="abc"), KEY, algorithm="HS512"), "malformed claims"),
        ("garbage", "not-a-jwt", "invalid token"),
        ("empty", "", "missing or oversized token"),
        ("oversized", "a" * 5000, "missing or oversized token"),
    ],
)
def test_bad_tokens_are_refused_with_a_reason(label, token, reason):
    with pytest.raises(tokens.InvalidToken) as refused:
        tokens.decode(token, [KEY])
    assert refused.value.reason.startswith(reason), label


def test_tampered_payload_fails_the_signature():
    header, _, signature = jwt.encode(make(), KEY, algorithm="HS512").split(".")
    forged = f"{header}.{b64(make(room_id='someone-elses-room'))}.{signature}"
    with pytest.raises(tokens.InvalidToken, match="bad signature"):
        tokens.decode(forged, [KEY])


def test_issuer_and_audience_are_checked_when_configured():
    settings = JwtSettings(issuer="backend", audience="hermes")
    good = tokens.encode(
        user_id="u", room_id="r", token_id=TID, secret=SECRET, key=KEY, ttl_seconds=60, settings=settings
    )
    assert tokens.decode(good, [KEY], settings).user_id == "u"
    other = tokens.encode(
        user_id="u",
        room_id="r",
        token_id=TID,
        secret=SECRET,
        key=KEY,
        ttl_seconds=60,
        settings=JwtSettings(issuer="someone-else", audience="hermes"),
    )
    with pytest.raises(tokens.InvalidToken, match="InvalidIssuerError"):
        tokens.decode(other, [KEY], settings)
    no_aud = tokens.encode(
        user_id="u",
        room_id="r",
        token_id=TID,
        secret=SECRET,
        key=KEY,
        ttl_seconds=60,
        settings=JwtSettings(issuer="backend"),
    )
    with pytest.raises(tokens.InvalidToken, match="missing claim aud"):
        tokens.decode(no_aud, [KEY], settings)


def test_leeway_tolerates_small_clock_skew_only():
    skewed = jwt.encode(make(exp=int(time.time()) - 10), KEY, algorithm="HS512")
    assert tokens.decode(skewed, [KEY], JwtSettings(leeway_seconds=30)).user_id == "u1"
    with pytest.raises(tokens.InvalidToken, match="expired"):
        tokens.decode(skewed, [KEY], JwtSettings(leeway_seconds=0))


@pytest.mark.parametrize("short", ["short", "k" * 32, "k" * 63])
def test_keys_shorter_than_the_hs512_hash_are_refused_for_signing_and_verifying(short):
    # RFC 7518 section 3.2: a key of the same size as the hash output (512 bits) or larger
    with pytest.raises(ValueError, match="at least 64 bytes"):
        tokens.encode(user_id="u", room_id="r", token_id=TID, secret=SECRET, key=short, ttl_seconds=60)
    with pytest.raises(ValueError, match="at least 64 bytes"):
        tokens.decode(jwt.encode(make(), KEY, algorithm="HS512"), [short])


def test_bcrypt_hash_matches_only_its_secret_and_malformed_hash_is_a_mismatch():
    hashed = tokens.hash_secret(SECRET, cost=4)
    assert hashed.startswith("$2b$04$")
    assert tokens.secret_matches(SECRET, hashed)
    assert not tokens.secret_matches(tokens.new_secret(), hashed)
    assert not tokens.secret_matches(SECRET, "not-a-bcrypt-hash")
    with pytest.raises(ValueError):
        tokens.hash_secret(SECRET, cost=3)


@pytest.mark.parametrize("good", ["alice", "alice@example.com", "auth0|507f1f77", "room:42", "a-b_c.d=e+f", "x" * 128])
def test_ids_of_the_documented_charset_are_accepted(good):
    token = tokens.encode(user_id=good, room_id=good, token_id=TID, secret=SECRET, key=KEY, ttl_seconds=60)
    assert tokens.decode(token, [KEY]).user_id == good


@pytest.mark.parametrize("bad", ["", None, 7, "x" * 129, "room#1", "a/b", "a b", "tab\t", "\ud800", "é"])
def test_ids_are_validated(bad):
    with pytest.raises(ValueError):
        tokens.encode(user_id=bad, room_id="r", token_id=TID, secret=SECRET, key=KEY, ttl_seconds=60)
