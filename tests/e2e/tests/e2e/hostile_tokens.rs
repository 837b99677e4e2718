//! The hostile-token table: each test sends one forged, broken or misplaced token to the example
//! API over real HTTP and checks the exact answer. Each guards one rule and fails without it.
#![allow(clippy::unwrap_used)]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use oauth_e2e::support::*;
use oauth_runtime::{Algorithm, SigningKey};
use serde_json::json;

/// Sends `authorization` header values (raw bytes, possibly several) to `GET /photos`.
async fn send(base: &str, authorization: &[&[u8]], query: &str) -> Answer {
    let mut headers = reqwest::header::HeaderMap::new();
    for value in authorization {
        headers.append(
            "authorization",
            reqwest::header::HeaderValue::from_bytes(value).unwrap(),
        );
    }
    let response = reqwest::Client::new()
        .get(format!("{base}/photos{query}"))
        .headers(headers)
        .send()
        .await
        .unwrap();
    Answer::from(response).await
}

async fn bearer(base: &str, token: &str) -> Answer {
    send(base, &[format!("Bearer {token}").as_bytes()], "").await
}

async fn setup() -> (Keys, String) {
    let keys = Keys::generate();
    let base = start_example(keys.verifier()).await;
    (keys, base)
}

fn assert_invalid_token(answer: &Answer) {
    assert_eq!(
        (answer.status, answer.www_authenticate.as_deref()),
        (401, Some(INVALID_TOKEN)),
        "{answer:?}"
    );
}

fn b64(value: &serde_json::Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

#[tokio::test]
async fn control_a_good_token_passes() {
    let (keys, base) = setup().await;
    assert_eq!(bearer(&base, &keys.token("photos:read")).await.status, 200);
}

#[tokio::test]
async fn rfc8725_section_3_1_alg_none_is_rejected() {
    let (_, base) = setup().await;
    for header in [
        json!({"alg": "none"}),
        json!({"alg": "none", "kid": "es"}),
        json!({"alg": "None"}),
    ] {
        let token = format!("{}.{}.", b64(&header), b64(&claims("photos:read")));
        // `Bearer x.y.` ends in a dot, which b64token allows; the token itself is refused.
        assert_invalid_token(&bearer(&base, &token).await);
    }
}

#[tokio::test]
async fn rfc8725_section_3_1_hs256_keyed_with_the_rsa_public_key_is_rejected() {
    let (keys, base) = setup().await;
    // The attacker knows the RSA public key and uses its bytes as an HMAC secret.
    let public_pem = pem::encode(&pem::Pem::new(
        "PUBLIC KEY",
        keys.rs.public_key_der().unwrap(),
    ));
    for secret in [
        public_pem.as_bytes().to_vec(),
        keys.rs.public_key_der().unwrap(),
    ] {
        let forger = SigningKey::hmac(Algorithm::HS256, &secret).unwrap();
        for kid in [Some("rs"), None] {
            let mut header = json!({"alg": "HS256", "typ": "at+jwt"});
            if let Some(kid) = kid {
                header["kid"] = kid.into();
            }
            let token = forger.sign_jwt_with_header(&header, &claims("photos:read"));
            assert_invalid_token(&bearer(&base, &token).await);
        }
    }
}

#[tokio::test]
async fn rfc8725_section_3_1_header_alg_must_match_the_key() {
    let Keys { es, rs } = Keys::generate();
    let verifier = photos_demo::verifier(
        ISSUER,
        [
            es.verification_key().unwrap(),
            rs.verification_key().unwrap(),
        ],
    )
    .unwrap();
    let base = start_example(verifier).await;
    // A genuine PS256 signature by the trusted RSA key, which is configured for RS256 only.
    let ps = rs.with_algorithm(Algorithm::PS256).unwrap();
    assert_invalid_token(&bearer(&base, &ps.sign_jwt(&claims("photos:read"))).await);
    // The ES256 key's signature, labelled ES384.
    let token = es.sign_jwt_with_header(
        &json!({"alg": "ES384", "kid": "es", "typ": "at+jwt"}),
        &claims("photos:read"),
    );
    assert_invalid_token(&bearer(&base, &token).await);
}

#[tokio::test]
async fn rfc7519_section_4_1_4_expired_token_is_rejected() {
    let (keys, base) = setup().await;
    let mut c = claims("photos:read");
    c["exp"] = (now() - 120).into();
    let a = bearer(&base, &keys.es.sign_jwt(&c)).await;
    assert_eq!(
        (a.status, a.www_authenticate.as_deref()),
        (401, Some(EXPIRED_TOKEN))
    );
    assert_eq!(
        a.body,
        r#"{"error":"invalid_token","error_description":"the access token expired"}"#
    );
}

#[tokio::test]
async fn rfc7519_section_4_1_4_expiry_within_the_leeway_is_accepted() {
    let (keys, base) = setup().await;
    let mut c = claims("photos:read");
    c["exp"] = (now() - 30).into();
    assert_eq!(bearer(&base, &keys.es.sign_jwt(&c)).await.status, 200);
}

#[tokio::test]
async fn rfc7519_section_4_1_4_missing_exp_is_rejected() {
    let (keys, base) = setup().await;
    let mut c = claims("photos:read");
    c.as_object_mut().unwrap().remove("exp");
    assert_invalid_token(&bearer(&base, &keys.es.sign_jwt(&c)).await);
}

#[tokio::test]
async fn rfc7519_section_4_1_5_nbf_in_the_future_is_rejected() {
    let (keys, base) = setup().await;
    let mut c = claims("photos:read");
    c["nbf"] = (now() + 3600).into();
    let a = bearer(&base, &keys.es.sign_jwt(&c)).await;
    assert_eq!(a.status, 401);
    assert_eq!(
        a.www_authenticate.as_deref(),
        Some(
            r#"Bearer realm="photos", error="invalid_token", error_description="the access token is not valid yet""#
        )
    );
}

#[tokio::test]
async fn rfc7519_section_4_1_1_wrong_issuer_is_rejected() {
    let (keys, base) = setup().await;
    let mut c = claims("photos:read");
    c["iss"] = "https://evil.example".into();
    assert_invalid_token(&bearer(&base, &keys.es.sign_jwt(&c)).await);
}

#[tokio::test]
async fn rfc7519_section_4_1_3_wrong_audience_is_rejected() {
    let (keys, base) = setup().await;
    let mut c = claims("photos:read");
    c["aud"] = json!(["another-api"]);
    assert_invalid_token(&bearer(&base, &keys.es.sign_jwt(&c)).await);
}

#[tokio::test]
async fn rfc7515_section_5_2_payload_tampered_after_signing_is_rejected() {
    let (keys, base) = setup().await;
    let token = keys.token("photos:read");
    let parts: Vec<&str> = token.split('.').collect();
    let forged_payload = b64(&claims("photos:read photos:write photos:delete"));
    let forged = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
    assert_invalid_token(&bearer(&base, &forged).await);
}

#[tokio::test]
async fn rfc7515_section_2_bad_base64url_is_rejected() {
    let (keys, base) = setup().await;
    let token = keys.token("photos:read");
    // `+` and `/` are b64token characters, so the header parses, but not base64url.
    for forged in [
        format!("+{}", &token[1..]),
        token.replacen('.', "/.", 1),
        format!("{token}=="),
    ] {
        assert_invalid_token(&bearer(&base, &forged).await);
    }
}

#[tokio::test]
async fn rfc7515_section_7_1_two_or_five_segments_are_rejected() {
    let (keys, base) = setup().await;
    let token = keys.token("photos:read");
    let (two, _) = token.rsplit_once('.').unwrap();
    assert_invalid_token(&bearer(&base, two).await);
    assert_invalid_token(&bearer(&base, &format!("{token}.x.y")).await);
}

#[tokio::test]
async fn a_64_kib_token_is_rejected_before_verification() {
    let keys = Keys::generate();
    let counting = Counting::new(keys.verifier());
    let base = start_example(counting.clone()).await;
    let huge = "a".repeat(64 * 1024);
    let a = bearer(&base, &huge).await;
    assert_invalid_token(&a);
    assert_eq!(counting.calls(), 0, "the verifier must not even be called");
    // Control: an ordinary token does reach the verifier.
    assert_eq!(bearer(&base, &keys.token("photos:read")).await.status, 200);
    assert_eq!(counting.calls(), 1);
}

#[tokio::test]
async fn rfc6750_section_2_1_non_ascii_bytes_are_a_malformed_request() {
    let (_, base) = setup().await;
    let a = send(&base, &[b"Bearer abc\xe9def"], "").await;
    let expected = invalid_request("the Authorization header is not ASCII");
    assert_eq!(
        (a.status, a.www_authenticate.as_deref()),
        (400, Some(expected.as_str()))
    );
}

#[tokio::test]
async fn rfc6750_section_2_1_the_scheme_is_case_insensitive() {
    let (keys, base) = setup().await;
    for scheme in ["bearer", "BEARER", "bEaReR"] {
        let header = format!("{scheme} {}", keys.token("photos:read"));
        assert_eq!(
            send(&base, &[header.as_bytes()], "").await.status,
            200,
            "{scheme}"
        );
    }
}

#[tokio::test]
async fn rfc6750_section_2_1_bearer_without_a_token_is_a_malformed_request() {
    let (_, base) = setup().await;
    let a = send(&base, &[b"Bearer"], "").await;
    let expected = invalid_request("the Bearer scheme needs a token");
    assert_eq!(
        (a.status, a.www_authenticate.as_deref()),
        (400, Some(expected.as_str()))
    );
}

#[tokio::test]
async fn rfc6750_section_3_1_two_authorization_headers_are_a_malformed_request() {
    let (keys, base) = setup().await;
    let good = format!("Bearer {}", keys.token("photos:read"));
    let a = send(&base, &[good.as_bytes(), good.as_bytes()], "").await;
    let expected = invalid_request("more than one Authorization header");
    assert_eq!(
        (a.status, a.www_authenticate.as_deref()),
        (400, Some(expected.as_str()))
    );
}

#[tokio::test]
async fn rfc6750_section_3_1_two_tokens_in_one_header_are_a_malformed_request() {
    let (keys, base) = setup().await;
    let header = format!(
        "Bearer {} {}",
        keys.token("photos:read"),
        keys.token("photos:read")
    );
    assert_eq!(send(&base, &[header.as_bytes()], "").await.status, 400);
}

#[tokio::test]
async fn rfc6750_section_3_1_a_token_in_the_header_and_the_query_is_a_malformed_request() {
    let (keys, base) = setup().await;
    let token = keys.token("photos:read");
    let header = format!("Bearer {token}");
    let a = send(
        &base,
        &[header.as_bytes()],
        &format!("?access_token={token}"),
    )
    .await;
    let expected = invalid_request("the access token was sent in more than one place");
    assert_eq!(
        (a.status, a.www_authenticate.as_deref()),
        (400, Some(expected.as_str()))
    );
}

#[tokio::test]
async fn rfc9700_section_2_4_2_a_token_in_the_query_alone_is_refused() {
    let (keys, base) = setup().await;
    let a = send(
        &base,
        &[],
        &format!("?access_token={}", keys.token("photos:read")),
    )
    .await;
    let expected =
        invalid_request("send the access token in the Authorization header, not in the URI");
    assert_eq!(
        (a.status, a.www_authenticate.as_deref()),
        (400, Some(expected.as_str()))
    );
}

#[tokio::test]
async fn rfc6750_section_3_1_another_scheme_counts_as_no_credentials() {
    let (_, base) = setup().await;
    let a = send(&base, &[b"Basic YWxpY2U6d29uZGVybGFuZA=="], "").await;
    assert_eq!(
        (a.status, a.www_authenticate.as_deref()),
        (401, Some(NO_TOKEN))
    );
}

#[tokio::test]
async fn rfc7515_section_4_1_11_unknown_critical_header_is_rejected() {
    let (keys, base) = setup().await;
    let header = json!({"alg": "ES256", "kid": "es", "typ": "at+jwt", "crit": ["exp"], "exp": 1});
    assert_invalid_token(
        &bearer(
            &base,
            &keys
                .es
                .sign_jwt_with_header(&header, &claims("photos:read")),
        )
        .await,
    );
}

#[tokio::test]
async fn rfc7515_section_4_1_4_unknown_kid_is_rejected() {
    let (keys, base) = setup().await;
    let header = json!({"alg": "ES256", "kid": "nope", "typ": "at+jwt"});
    assert_invalid_token(
        &bearer(
            &base,
            &keys
                .es
                .sign_jwt_with_header(&header, &claims("photos:read")),
        )
        .await,
    );
}

#[tokio::test]
async fn rfc8725_section_3_11_rfc9068_typ_must_be_at_jwt() {
    let (keys, base) = setup().await;
    for typ in [json!("JWT"), json!(null), json!("id_token+jwt")] {
        let header = json!({"alg": "ES256", "kid": "es", "typ": typ});
        assert_invalid_token(
            &bearer(
                &base,
                &keys
                    .es
                    .sign_jwt_with_header(&header, &claims("photos:read")),
            )
            .await,
        );
    }
    let header = json!({"alg": "ES256", "kid": "es", "typ": "application/AT+JWT"});
    assert_eq!(
        bearer(
            &base,
            &keys
                .es
                .sign_jwt_with_header(&header, &claims("photos:read"))
        )
        .await
        .status,
        200
    );
}

#[tokio::test]
async fn rfc9068_section_2_2_required_claims_are_enforced() {
    let (keys, base) = setup().await;
    for missing in ["client_id", "jti", "iat", "sub", "aud", "iss"] {
        let mut c = claims("photos:read");
        c.as_object_mut().unwrap().remove(missing);
        assert_invalid_token(&bearer(&base, &keys.es.sign_jwt(&c)).await);
    }
}

#[tokio::test]
async fn a_malformed_scope_claim_is_rejected_not_ignored() {
    let (keys, base) = setup().await;
    let mut c = claims("photos:read");
    c["scope"] = json!({"photos:read": true});
    assert_invalid_token(&bearer(&base, &keys.es.sign_jwt(&c)).await);
}
