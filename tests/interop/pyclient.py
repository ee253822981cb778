#!/usr/bin/python3
# Python clients of keygate for the compatibility suite (tests/interop/python.test.mjs), run
# with Debian's /usr/bin/python3 and Debian's packages only: requests-oauthlib (with oauthlib
# and requests) for the client-credentials grant, PyJWT's PyJWKClient (with cryptography) for
# verifying access tokens against keygate's JWKS.  It uses each library as its documentation
# shows, and no code of keygate's.
#
# Input: a JSON list of steps on stdin; output: a JSON list with one result per step on
# stdout.  A step that a library refuses gives {"ok": false, "error": exception class,
# "message": ...}: the test decides whether that refusal was right.  Steps:
#   {"op": "fetch", "token_url", "client_id", "client_secret", "post": bool, "scope": [..]?,
#    "get": URL?}      BackendApplicationClient + OAuth2Session.fetch_token (HTTP Basic, or
#                      the credentials in the body when "post"), then GET URL with the session
#   {"op": "call", "access_token", "get": URL}   a session holding a token already, GET URL
#   {"op": "verify", "jwks_uri", "token", "algorithms": [..], "audience", "issuer"}
#                      PyJWKClient(jwks_uri).get_signing_key_from_jwt + jwt.decode
#
# Over plain http on 127.0.0.1 oauthlib needs OAUTHLIB_INSECURE_TRANSPORT=1 (the test sets it).
import json
import sys

import jwt
from oauthlib.oauth2 import BackendApplicationClient
from requests_oauthlib import OAuth2Session

TIMEOUT = 10  # seconds, for every HTTP request


def response(r):
    try:
        body = r.json()
    except ValueError:
        body = r.text
    return {"status": r.status_code, "json": body}


def fetch(step):
    client = BackendApplicationClient(client_id=step["client_id"])
    session = OAuth2Session(client=client, scope=step.get("scope"))
    token = session.fetch_token(
        token_url=step["token_url"],
        client_id=step["client_id"],
        client_secret=step["client_secret"],
        include_client_id=bool(step.get("post")),
        timeout=TIMEOUT,
    )
    out = {"ok": True, "token": dict(token), "authorized": session.authorized}
    if step.get("get"):
        out["call"] = response(session.get(step["get"], timeout=TIMEOUT))
    return out


def call(step):
    session = OAuth2Session(token={"access_token": step["access_token"], "token_type": "Bearer"})
    return {"ok": True, "call": response(session.get(step["get"], timeout=TIMEOUT))}


def verify(step):
    jwks = jwt.PyJWKClient(step["jwks_uri"])
    key = jwks.get_signing_key_from_jwt(step["token"])
    claims = jwt.decode(
        step["token"],
        key.key,
        algorithms=step["algorithms"],
        audience=step["audience"],
        issuer=step["issuer"],
    )
    return {
        "ok": True,
        "header": jwt.get_unverified_header(step["token"]),
        "claims": claims,
        "key": {"kid": key.key_id, "kty": key.key_type, "use": key.public_key_use},
    }


OPS = {"fetch": fetch, "call": call, "verify": verify}


def main():
    results = []
    for step in json.load(sys.stdin):
        try:
            results.append(OPS[step["op"]](step))
        except Exception as e:  # reported to the test, which judges it
            results.append({"ok": False, "error": type(e).__name__, "message": str(e)})
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
