//! Sender-constrained tokens whose binding this server cannot check (`cnf`, RFC 7800): a
//! certificate-bound token (RFC 8705), a DPoP-bound one where DPoP is off (RFC 9449 §7.2) and
//! unknown confirmation methods are refused over real HTTP, by axum and Rocket alike, for JWT
//! and introspection, on every extractor path and on cache hits; the explicit opt-out lets them
//! through.
#![allow(clippy::unwrap_used)]

use axum::Router;
use axum::routing::get as route_get;
use oauth_e2e::support::*;
use oauth_runtime::{
    Authenticator, CachedVerifier, Claims, IntrospectionVerifier, SigningKey, TokenVerifier,
};
use serde_json::{Value, json};

const CERTIFICATE: &str = "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2";

/// The `error_description` of a certificate-bound token.
const CERTIFICATE_BOUND: &str = "the access token is bound to a client certificate (cnf.x5t#S256), which this server cannot check";

/// The bindings of the table with the `error_description` each is refused with.
fn bindings(client: &SigningKey) -> [(Value, &'static str); 3] {
    let jkt = oauth_runtime::dpop::jwk_thumbprint(&client.public_jwk().unwrap()).unwrap();
    [
        (json!({ "x5t#S256": CERTIFICATE }), CERTIFICATE_BOUND),
        (
            json!({ "jkt": jkt }),
            "the access token is DPoP-bound (cnf.jkt), and this server does not accept DPoP",
        ),
        (
            json!({ "kid": "client-key-7" }),
            "the access token is bound by a confirmation method (cnf) this server cannot check",
        ),
    ]
}

/// The example's answer to a token refused with `description`.
fn refused(description: &str) -> Answer {
    Answer {
        status: 401,
        www_authenticate: Some(format!(
            r#"Bearer realm="photos", error="invalid_token", error_description="{description}""#
        )),
        body: json!({ "error": "invalid_token", "error_description": description }).to_string(),
    }
}

/// A token of the example's issuer granting `photos:read`, bound by `cnf`.
fn bound_token(keys: &Keys, cnf: &Value) -> String {
    let mut claims = claims("photos:read");
    claims["cnf"] = cnf.clone();
    keys.es.sign_jwt(&claims)
}

/// The axum and the Rocket example around one verifier each, sharing nothing.
async fn both_examples(verifier: impl Fn() -> Box<dyn TokenVerifier>) -> [String; 2] {
    [
        start_example(verifier()).await,
        start_rocket_example(verifier()).await,
    ]
}

/// RFC 8705 §3 (the resource MUST check the certificate binding), RFC 9449 §7.2 and RFC 7800
/// §3.1: each binding is refused with the same status, challenge and body by both frameworks,
/// and again on the second request, which the verified-token cache answers.
#[tokio::test(flavor = "multi_thread")]
async fn rfc8705_section_3_unverifiable_bindings_are_refused_by_axum_and_rocket() {
    let keys = Keys::generate();
    let client = SigningKey::generate(oauth_runtime::Algorithm::ES256).unwrap();
    let counting = Counting::new(keys.verifier());
    let verifier = || -> Box<dyn TokenVerifier> { Box::new(CachedVerifier::new(counting.clone())) };
    let bases = both_examples(verifier).await;
    for (cnf, description) in bindings(&client) {
        let token = bound_token(&keys, &cnf);
        for base in &bases {
            let before = counting.calls();
            for _ in 0..2 {
                let answer = get(&format!("{base}/photos"), Some(&token)).await;
                assert_eq!(answer, refused(description), "{base} {cnf}");
            }
            assert_eq!(counting.calls(), before + 1, "the second was a cache hit");
        }
    }
    // The control: the same token without `cnf` passes both.
    for base in &bases {
        let answer = get(&format!("{base}/photos"), Some(&keys.token("photos:read"))).await;
        assert_eq!(answer.status, 200, "{base}");
    }
}

/// RFC 8705 §3.2 and RFC 9449 §6.2: `cnf` in an introspection answer binds the opaque token
/// just as in a JWT, and is refused alike.
#[tokio::test(flavor = "multi_thread")]
async fn rfc8705_section_3_2_a_binding_from_introspection_is_refused() {
    let (url, calls) = introspection_endpoint(json!({
        "active": true, "sub": "alice", "scope": "photos:read", "exp": now() + 600,
        "cnf": { "x5t#S256": CERTIFICATE },
    }))
    .await;
    let verifier = || -> Box<dyn TokenVerifier> {
        Box::new(CachedVerifier::new(
            IntrospectionVerifier::new(&url, "api", "secret").unwrap(),
        ))
    };
    let bases = both_examples(verifier).await;
    for base in &bases {
        for _ in 0..2 {
            let answer = get(&format!("{base}/photos"), Some("an-opaque-token")).await;
            assert_eq!(answer, refused(CERTIFICATE_BOUND), "{base}");
        }
    }
    assert_eq!(
        calls.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "one call per server, the second request a cache hit"
    );
}

async fn subject(claims: Claims) -> String {
    claims.subject().unwrap_or_default().to_owned()
}

async fn optional(claims: Option<Claims>) -> String {
    claims.map_or("anonymous".into(), |c| {
        c.subject().unwrap_or_default().to_owned()
    })
}

#[rocket::get("/subject")]
fn rocket_subject(claims: Claims) -> String {
    claims.subject().unwrap_or_default().to_owned()
}

#[rocket::get("/optional")]
fn rocket_optional(claims: Option<Claims>) -> String {
    claims.map_or("anonymous".into(), |c| {
        c.subject().unwrap_or_default().to_owned()
    })
}

/// The `Claims` extractor without a guard and optional authentication go through the same
/// check: a bound token never reaches a handler as claims. axum's `Option<Claims>` refuses it;
/// Rocket's `Option` turns any failure into `None` (its own semantics), never into the claims.
#[tokio::test(flavor = "multi_thread")]
async fn rfc8705_section_3_no_extractor_path_admits_a_bound_token() {
    let keys = Keys::generate();
    let token = bound_token(&keys, &json!({ "x5t#S256": CERTIFICATE }));
    // `Authenticator::new`: no realm.
    let expected = Answer {
        www_authenticate: refused(CERTIFICATE_BOUND)
            .www_authenticate
            .map(|c| c.replace(r#"realm="photos", "#, "")),
        ..refused(CERTIFICATE_BOUND)
    };
    let axum_base = serve(
        Router::new()
            .route("/subject", route_get(subject))
            .route("/optional", route_get(optional))
            .layer(Authenticator::new(keys.verifier()).layer()),
    )
    .await;
    let rocket_base = launch_rocket(
        rocket::custom(rocket_config())
            .attach(Authenticator::new(keys.verifier()).fairing())
            .mount("/", rocket::routes![rocket_subject, rocket_optional]),
    )
    .await;
    for base in [&axum_base, &rocket_base] {
        let answer = get(&format!("{base}/subject"), Some(&token)).await;
        assert_eq!(answer, expected, "{base}");
        let good = get(&format!("{base}/subject"), Some(&keys.token(""))).await;
        assert_eq!(good.body, "alice", "{base}");
    }
    assert_eq!(
        get(&format!("{axum_base}/optional"), Some(&token)).await,
        expected
    );
    let answer = get(&format!("{rocket_base}/optional"), Some(&token)).await;
    assert_eq!((answer.status, answer.body.as_str()), (200, "anonymous"));
}

/// The explicit opt-out, for a phased rollout: every binding of the table passes as a bearer
/// token on both frameworks.
#[tokio::test(flavor = "multi_thread")]
async fn rfc8705_section_3_the_opt_out_accepts_the_bindings_as_bearer() {
    let keys = Keys::generate();
    let lenient = || {
        Authenticator::builder(keys.verifier())
            .realm("photos")
            .accept_unverified_binding(true)
            .build()
            .unwrap()
    };
    let bases = [
        start_axum_with(lenient()).await,
        start_rocket_with(lenient()).await,
    ];
    for (cnf, _) in bindings(&keys.rs) {
        let token = bound_token(&keys, &cnf);
        for base in &bases {
            let answer = get(&format!("{base}/photos"), Some(&token)).await;
            assert_eq!(answer.status, 200, "{base} {cnf}: {answer:?}");
        }
    }
}
