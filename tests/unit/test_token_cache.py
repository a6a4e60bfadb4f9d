"""The verified-token cache (security/tokens.py): a token verified once is answered from its
claims until it expires, and never for another token, audience or a key no longer trusted."""
import time

import pytest

from fhirsvc.security.tokens import InvalidToken, Issuer, TokenVerifier, key_set
from tests.security.smart_support import SMART
from tests.unit.test_tokens import AUD, ISS, make


def _verifier(clock=time.time, skew=30):
    keys = key_set(__import__("json").loads((SMART / "ES384.public.json").read_text()))
    return TokenVerifier(None, [Issuer(ISS, keys=keys)], skew=skew, clock=clock)


def test_the_same_token_again_is_a_hit_with_the_same_claims():
    v = _verifier()
    token = make(patient="p1")
    first = v.verify(token, audience=AUD, own_issuer=None)
    again = v.verify(token, audience=AUD, own_issuer=None)
    assert v.hits == 1 and again == first and again.patient == "p1"


def test_another_token_is_verified_on_its_own():
    v = _verifier()
    token = make(patient="p1")
    v.verify(token, audience=AUD, own_issuer=None)
    other = v.verify(make(patient="p2"), audience=AUD, own_issuer=None)
    assert other.patient == "p2" and v.hits == 0
    # the cached token's header and claims with another signature: not the same bytes
    head, body, sig = token.split(".")
    forged = ".".join([head, body, ("A" if sig[0] != "A" else "B") + sig[1:]])
    with pytest.raises(InvalidToken):
        v.verify(forged, audience=AUD, own_issuer=None)
    assert v.hits == 0


def test_a_cached_token_is_not_for_another_audience():
    v = _verifier()
    token = make()
    v.verify(token, audience=AUD, own_issuer=None)
    with pytest.raises(InvalidToken, match="not for this server"):
        v.verify(token, audience="https://other.example/fhir", own_issuer=None)


def test_a_cached_token_expires_exactly_as_an_uncached_one():
    v = _verifier(skew=0)
    # at least two seconds ahead: with `+ 1` the token could expire before the first verify
    # on a loaded machine (exp is whole seconds, so `+ 1` may be 10 ms away)
    exp = int(time.time()) + 3
    token = make(exp=exp)
    v.verify(token, audience=AUD, own_issuer=None)
    v.verify(token, audience=AUD, own_issuer=None)
    assert v.hits == 1
    while time.time() < exp:       # PyJWT: expired once exp <= now
        time.sleep(0.05)
    with pytest.raises(InvalidToken, match="expired"):
        v.verify(token, audience=AUD, own_issuer=None)
    assert v.hits == 1


def test_the_cache_checks_the_time_claims_with_its_clock():
    now = [time.time()]
    v = _verifier(clock=lambda: now[0], skew=30)
    token = make(exp=int(now[0]) + 100)
    v.verify(token, audience=AUD, own_issuer=None)
    now[0] += 129          # exp - skew not yet reached
    v.verify(token, audience=AUD, own_issuer=None)
    assert v.hits == 1
    now[0] += 2            # past exp + skew by the cache's clock: not served from the cache
    v.verify(token, audience=AUD, own_issuer=None)
    assert v.hits == 1


def test_a_token_not_valid_yet_is_never_kept():
    v = _verifier(skew=0)
    token = make(nbf=int(time.time()) + 600)
    for _ in range(2):
        with pytest.raises(InvalidToken, match="not valid yet"):
            v.verify(token, audience=AUD, own_issuer=None)
    assert v.hits == 0


def test_a_key_the_issuer_no_longer_has_ends_the_cached_token():
    v = _verifier()
    token = make()
    v.verify(token, audience=AUD, own_issuer=None)
    rs = key_set(__import__("json").loads((SMART / "RS384.public.json").read_text()))
    v.issuers[ISS]._keys = rs            # the issuer's JWKS rotated: the ES384 key is gone
    with pytest.raises(InvalidToken, match="does not know"):
        v.verify(token, audience=AUD, own_issuer=None)
    assert v.hits == 0


def test_the_cache_is_bounded():
    v = _verifier()
    v.CACHE_SIZE = 5
    tokens = [make(patient=f"p{i}") for i in range(12)]
    for t in tokens:
        v.verify(t, audience=AUD, own_issuer=None)
    assert len(v._verified) <= 5
    v.verify(tokens[-1], audience=AUD, own_issuer=None)      # the newest is kept
    assert v.hits == 1
