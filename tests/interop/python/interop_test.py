"""Interop: Keyward driven by unmodified third-party Python clients.

authlib (client_secret_basic, client_secret_post, private_key_jwt, introspection,
revocation), requests-oauthlib (Basic with client_id also in the body) and PyJWT (PyJWKClient against the JWKS; issuer, audience and signature
checked, and another environment's token refused by issuer alone).

Run by bins/keyward/tests/it/interop.rs against a real `keyward serve`; inputs come
from environment variables. Exits non-zero (AssertionError) on any failure.
"""

import json
import os
import sys

import jwt
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT

BASE = os.environ["KEYWARD_URL"]
CLIENT_ID = os.environ["CLIENT_ID"]
CLIENT_SECRET = os.environ["CLIENT_SECRET"]
JWT_CLIENT_ID = os.environ["JWT_CLIENT_ID"]
JWT_PRIVATE_JWK = json.loads(os.environ["JWT_PRIVATE_JWK"])
STAGING_TOKEN = os.environ["STAGING_TOKEN"]


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print("ok -", what)


meta = requests.get(BASE + "/.well-known/oauth-authorization-server", timeout=10).json()
token_url = meta["token_endpoint"]

# client_secret_basic
basic = OAuth2Session(CLIENT_ID, CLIENT_SECRET, token_endpoint_auth_method="client_secret_basic")
t1 = basic.fetch_token(token_url, grant_type="client_credentials")
check(t1["token_type"] == "Bearer" and t1["access_token"], "authlib client_secret_basic")

# requests-oauthlib's backend flow sends Basic *and* client_id in the body (older
# releases always did; `include_client_id=True` asks 2.x for the same). oauthlib
# refuses plain http unless told otherwise by its documented switch: the test server
# listens on loopback without TLS.
os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"
from oauthlib.oauth2 import BackendApplicationClient
from requests_oauthlib import OAuth2Session as RequestsOAuth2Session

ro = RequestsOAuth2Session(client=BackendApplicationClient(client_id=CLIENT_ID))
t0 = ro.fetch_token(
    token_url=token_url,
    client_id=CLIENT_ID,
    client_secret=CLIENT_SECRET,
    include_client_id=True,
)
check(t0["access_token"], "requests-oauthlib (Basic plus client_id in the body)")

# client_secret_post
post = OAuth2Session(CLIENT_ID, CLIENT_SECRET, token_endpoint_auth_method="client_secret_post")
t2 = post.fetch_token(token_url, grant_type="client_credentials")
check(t2["access_token"], "authlib client_secret_post")

# private_key_jwt (RFC 7523), signed with the app's registered key
pkj = OAuth2Session(
    JWT_CLIENT_ID,
    JWT_PRIVATE_JWK,
    token_endpoint_auth_method=PrivateKeyJWT(token_url, alg="ES256"),
)
t3 = pkj.fetch_token(token_url, grant_type="client_credentials")
check(t3["access_token"], "authlib private_key_jwt")

# PyJWT: PyJWKClient + issuer + audience + signature
jwks_client = jwt.PyJWKClient(meta["jwks_uri"])
for token in (t1["access_token"], t3["access_token"]):
    key = jwks_client.get_signing_key_from_jwt(token)
    claims = jwt.decode(
        token,
        key.key,
        algorithms=meta["access_token_signing_alg_values_supported"],
        issuer=meta["issuer"],
        audience=BASE,
    )
    check(claims["iss"] == meta["issuer"], "PyJWT verifies issuer, audience, signature")
    check(jwt.get_unverified_header(token)["typ"] == "at+jwt", "typ at+jwt")

# Another environment's token: same keys, same audience, refused by issuer alone.
key = jwks_client.get_signing_key_from_jwt(STAGING_TOKEN)
try:
    jwt.decode(STAGING_TOKEN, key.key, algorithms=["ES256"], issuer=meta["issuer"], audience=BASE)
    raise AssertionError("a staging token passed as a default-environment token")
except jwt.InvalidIssuerError:
    check(True, "PyJWT refuses another environment's token by issuer")

# Introspection (RFC 7662) and revocation (RFC 7009) through authlib's own methods.
introspector = OAuth2Session(
    os.environ["INTROSPECTOR_ID"],
    os.environ["INTROSPECTOR_SECRET"],
    token_endpoint_auth_method="client_secret_basic",
)
r = introspector.introspect_token(meta["introspection_endpoint"], token=t2["access_token"])
check(r.status_code == 200 and r.json()["active"] is True, "authlib introspect_token: active")
r = post.revoke_token(meta["revocation_endpoint"], token=t2["access_token"])
check(r.status_code == 200, "authlib revoke_token")
r = introspector.introspect_token(meta["introspection_endpoint"], token=t2["access_token"])
check(r.json() == {"active": False}, "revoked token is inactive")

print("python interop: all passed")
sys.exit(0)
