#!/usr/bin/env python3
"""Writes the seed inputs of each fuzz target into fuzz/seeds/<target>/ (see FUZZING.md).

The seeds are the Wycheproof JWS/JWK vectors (vectors/wycheproof, Apache-2.0) and the shapes of
tests/e2e/tests/hostile_tokens.rs, re-made here with the fixed HMAC secret of the jwt_verify
target so that they pass the signature and reach the claim checks. Times are absolute (2100 and
2001) so that the seeds mean the same thing every year until 2100.
"""
import base64, hashlib, hmac, json, os, shutil

HERE = os.path.dirname(os.path.abspath(__file__))
VECTORS = os.path.join(HERE, "..", "vectors", "wycheproof")
SECRET = b"fuzzing secret, 32 bytes or more!"  # jwt_verify.rs's SECRET
ISS, AUD = "https://issuer.example", "photos-api"
FUTURE, PAST = 4102444800, 1000000000


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def j(value) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def sign(header, claims) -> str:
    signed = f"{b64(j(header))}.{b64(j(claims) if not isinstance(claims, bytes) else claims)}"
    tag = hmac.new(SECRET, signed.encode(), hashlib.sha256).digest()
    return f"{signed}.{b64(tag)}"


def write(target, seeds):
    out = os.path.join(HERE, target)
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    for i, seed in enumerate(seeds):
        if isinstance(seed, str):
            seed = seed.encode()
        with open(os.path.join(out, f"seed-{i:03}"), "wb") as f:
            f.write(seed)


jws = json.load(open(os.path.join(VECTORS, "json_web_signature_test.json")))
jwk = json.load(open(os.path.join(VECTORS, "json_web_key_test.json")))
jws_tokens = sorted({t["jws"] for g in jws["testGroups"] for t in g["tests"] if isinstance(t.get("jws"), str)})

# --- jwt_verify ------------------------------------------------------------------------------
good = {"iss": ISS, "aud": AUD, "sub": "alice", "exp": FUTURE, "iat": PAST, "jti": "j-1",
        "client_id": "web", "scope": "photos:read photos:write"}
hs = {"alg": "HS256", "typ": "at+jwt"}
variants = [
    (hs, good),
    ({"alg": "HS256", "typ": "application/at+jwt", "kid": "ours"}, good),
    (hs, {**good, "exp": PAST}),                      # expired
    (hs, {k: v for k, v in good.items() if k != "exp"}),  # no exp
    (hs, {**good, "nbf": FUTURE}),                    # not yet valid
    (hs, {**good, "iss": "https://evil.example"}),
    (hs, {**good, "aud": ["another-api"]}),
    (hs, {**good, "aud": [AUD, "x"]}),
    (hs, {k: v for k, v in good.items() if k != "aud"}),  # Cognito: client_id as audience
    (hs, {**{k: v for k, v in good.items() if k != "aud"}, "client_id": AUD, "permissions": ["a", "b"]}),
    (hs, {**good, "scope": "a\"b"}),                  # malformed scope
    (hs, {**good, "scope": 42}),
    (hs, {**good, "scp": ["a", "b"], "scope": None}),
    ({"alg": "HS256", "typ": "JWT"}, good),           # RFC 9068 typ
    ({"alg": "HS256", "crit": ["exp"], "exp": 1}, good),
    ({"alg": "HS256", "crit": None}, good),
    ({"alg": "HS256", "kid": "nope"}, good),
    ({"alg": "none"}, good),
    ({"alg": "None", "kid": "ours"}, good),
    ({"alg": "ES384", "kid": "kid-ec-sign"}, good),
    ({"alg": "RS256"}, good),
]
signed_form = [j(h) + b"\n" + j(c) for h, c in variants]
signed_form.append(j(hs) + b"\nnot json")
tokens = [sign(h, c) for h, c in variants]
t = tokens[0]
tokens += [
    f"{b64(j({'alg': 'none'}))}.{b64(j(good))}.",
    "+" + t[1:], t.replace(".", "/.", 1), t + "==",  # bad base64url
    t.rsplit(".", 1)[0], t + ".x.y",                   # two and five segments
    ".".join([t.split(".")[0], b64(j({**good, "scope": "photos:delete"})), t.split(".")[2]]),  # tampered
]
write("jwt_verify", jws_tokens + tokens + signed_form)

# --- jwk -----------------------------------------------------------------------------------------
keys = []
for g in jws["testGroups"] + jwk["testGroups"]:
    for member in ("public", "private"):
        k = g.get(member)
        if isinstance(k, dict):
            keys.append(k)
singles = [k for k in keys if "keys" not in k]
sets = [k for k in keys if "keys" in k]
ec = next(k for k in singles if k.get("crv") == "P-256" and "x" in k)
x = base64.urlsafe_b64decode(ec["x"] + "==")
y = base64.urlsafe_b64decode(ec["y"] + "==")
p256_der = bytes.fromhex("3059301306072a8648ce3d020106082a8648ce3d030107034200") + b"\x04" + x + y
ed_der = bytes.fromhex("302a300506032b6570032100") + bytes(range(32))
pem = b"-----BEGIN PUBLIC KEY-----\n" + base64.encodebytes(p256_der) + b"-----END PUBLIC KEY-----\n"
jwk_seeds = [j(k) for k in singles] + [j(s) for s in sets] + [
    j({"keys": singles}),
    j({"keys": [ec, {**ec, "use": "enc"}, {**ec, "key_ops": ["verify"]}, {**ec, "alg": "HS256"}]}),
    j({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": b64(bytes(range(32)))}]}),
    j({"keys": [{"kty": "RSA", "n": "sXch", "e": "AQAB"}]}),
    p256_der, ed_der, pem,
]
write("jwk", sorted(set(jwk_seeds)))

# --- bearer ----------------------------------------------------------------------------------
write("bearer", [
    "Bearer " + tokens[0], "bearer abc", "BEARER   abc.def-_~+/==", "Basic dXNlcjpwYXNz",
    "Bearer", "Bearer ", "Bearer a b", "Bearer a=b", "Bearer ===", "Bearer \"a\"",
    b"Bearer abc\xe9def", "Bearer a\nBearer b", "?x=1&access_token=a\nBearer a",
    "?access_token=a", "?access=a\nBearer abc", "Bearer " + "a" * 40, "DPoP abc",
])

# --- scope_requirement -------------------------------------------------------------------------
write("scope_requirement", [
    '"photos:read"', '"a", "b"', 'all(any("a", "b"), "c")', 'any("photos:read", "albums:read")',
    'PHOTOS_READ', 'crate::scopes::PHOTOS_READ, "b"', '"a", route = "GET /photos"',
    'any()', '"a b"', '42', 'one_of("a")', '"", "a b", "c", "c"', 'all', '"a", color = "red"',
    'photos:read', 'https://api.example.com/read', '!#[]~', 'é', 'tab\t', '\x7f',
    'all(' * 40 + '"a"' + ')' * 40,  # past the nesting bound
])

# --- dev_params ----------------------------------------------------------------------------------
def basic(cred: str) -> str:
    return "Authorization: Basic " + base64.b64encode(cred.encode()).decode() + "\n"

write("dev_params", [
    "grant_type=client_credentials&client_id=demo-client&client_secret=demo-secret&scope=a+b",
    basic("demo-client:demo-secret") + "grant_type=client_credentials",
    basic("demo-client:demo-secret") + "client_id=demo-client&token=abc",
    basic("demo-client:demo-secret") + "client_secret=demo-secret",
    basic("a%3Ab+c:p%2Bss%25%26%3D") + "token=x&token_type_hint=access_token",
    basic("demo-client:wrong") + "grant_type=client_credentials",
    "Authorization: Basic !!!\n", "Authorization: Bearer abc\ntoken=x",
    "client_id=spa&code=abc&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcb&code_verifier=v",
    "response_type=code&client_id=spa&state=%F0%9F%98%80&scope=a%20b", "a=1&a=2", "a=1&b=&c=x%20y",
    "client_id=a%3Ab%20c&client_secret=p%2Bss%25%26%3D",
])

# --- introspection_claims ----------------------------------------------------------------------
write("introspection_claims", [j(v) for v in [
    {"active": True, "scope": "photos:read photos:write", "exp": FUTURE, "sub": "alice",
     "client_id": "web", "aud": ["photos-api"], "iss": ISS, "token_type": "Bearer"},
    {"active": True, "scope": "a", "aud": "photos-api", "nbf": PAST, "iat": PAST, "jti": "x"},
    {"active": True, "token_type": "refresh_token", "client_id": "web"},
    {"active": False},
    {"active": "true"},
    {"active": True, "scp": ["a", "b"], "permissions": ["read:x"]},
    {"active": True, "scope": ["a", 1]},
    {"active": True, "exp": 1.5, "iat": -1, "nbf": 1e300},
    {"active": True, "aud": [1, "x"], "sub": 7},
    {"active": True, "scope": None, "scp": "a  b"},
]] + [b"[]", b"null", b"{\"active\":true,\"active\":false}"])
