//! Several trusted issuers over real HTTP: two development servers as two tenants, each behind
//! a JWKS proxy that counts what reaches it, a trap server that counts every request, and the
//! example API in front. A token chooses its issuer by `iss`, and an `iss` that is not trusted
//! never makes the API fetch anything (RFC 8725 §3.10) nor lets another tenant's key vouch for
//! it (RFC 8725 §3.8, RFC 9068 §4).
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use oauth_e2e::support::*;
use oauth_runtime::dev::{DevServer, DevServerHandle};
use oauth_runtime::rocket::AuthFairing;
use oauth_runtime::{
    Algorithm, Claims, JwtVerifier, MultiIssuerVerifier, ResolveError, SigningKey, requires_scope,
};
use serde_json::{Value, json};

/// Counts the requests it receives; forwards them to `upstream` when there is one, else answers
/// 404 (a trap: nothing should ever come).
#[derive(Clone)]
struct Counter {
    hits: Arc<AtomicUsize>,
    upstream: Option<String>,
}

impl Counter {
    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

async fn count(State(counter): State<Counter>, request: Request) -> Response {
    counter.hits.fetch_add(1, Ordering::SeqCst);
    let Some(upstream) = &counter.upstream else {
        return (axum::http::StatusCode::NOT_FOUND, "trap").into_response();
    };
    let upstream = reqwest::get(format!("{upstream}{}", request.uri().path()))
        .await
        .unwrap();
    let status = upstream.status().as_u16();
    (
        axum::http::StatusCode::from_u16(status).unwrap(),
        [("content-type", "application/json")],
        upstream.bytes().await.unwrap(),
    )
        .into_response()
}

async fn counter(upstream: Option<String>) -> (Counter, String) {
    let counter = Counter {
        hits: Arc::new(AtomicUsize::new(0)),
        upstream,
    };
    let app = axum::Router::new()
        .fallback(count)
        .with_state(counter.clone());
    (counter, serve(app).await)
}

/// A development server as one tenant, its key set reachable only through a counting proxy.
struct Tenant {
    dev: DevServerHandle,
    /// A copy of its signing key, to forge with.
    key: SigningKey,
    jwks: Counter,
    jwks_url: String,
}

impl Tenant {
    async fn start(kid: &str) -> Tenant {
        let key = SigningKey::generate(Algorithm::ES256)
            .unwrap()
            .with_kid(kid);
        let copy = SigningKey::from_pkcs8_pem(key.to_pkcs8_pem().unwrap())
            .unwrap()
            .with_kid(kid);
        let dev = DevServer::new()
            .audience(photos_demo::AUDIENCE)
            .signing_key(key)
            .start()
            .await
            .unwrap();
        let (jwks, base) = counter(Some(dev.issuer().to_owned())).await;
        Tenant {
            dev,
            key: copy,
            jwks,
            jwks_url: format!("{base}/jwks"),
        }
    }

    fn issuer(&self) -> &str {
        self.dev.issuer()
    }

    /// Its verifier as a resource server would configure it: exact issuer, the API's audience,
    /// strict RFC 9068, keys from its JWKS URL.
    fn verifier(&self) -> JwtVerifier {
        verifier_for(self.issuer(), &self.jwks_url)
    }

    fn token(&self) -> String {
        self.dev.mint_token("alice", "photos:read")
    }
}

fn verifier_for(issuer: &str, jwks_url: &str) -> JwtVerifier {
    JwtVerifier::builder()
        .issuer(issuer)
        .audience(photos_demo::AUDIENCE)
        .require_rfc9068(true)
        .jwks_url(jwks_url)
        .build()
        .unwrap()
}

fn payload(token: &str) -> Value {
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

fn random_hex() -> String {
    let mut bytes = [0u8; 8];
    aws_lc_rs::rand::fill(&mut bytes).unwrap();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Sends every token to `GET {base}/photos`, a few at a time, and returns each answer's status
/// and challenge.
async fn send_all(base: &str, tokens: Vec<String>) -> Vec<(u16, Option<String>)> {
    let client = reqwest::Client::new();
    let url = format!("{base}/photos");
    let mut answers = Vec::with_capacity(tokens.len());
    for chunk in tokens.chunks(16) {
        let requests = chunk.iter().map(|token| {
            let request = client.get(&url).bearer_auth(token).send();
            async move {
                let response = request.await.unwrap();
                let challenge = response
                    .headers()
                    .get("www-authenticate")
                    .map(|v| v.to_str().unwrap().to_owned());
                (response.status().as_u16(), challenge)
            }
        });
        for handle in requests.map(tokio::spawn).collect::<Vec<_>>() {
            answers.push(handle.await.unwrap());
        }
    }
    answers
}

/// 10,000 tokens with random `iss` values that are not trusted, drawn from `distinct` values:
/// each names the trap (so that discovery from `iss` would reach it) and points `jku` and
/// `x5u` at it, carries tenant A's `kid` and audience, and is really signed, by an attacker.
fn hostile_tokens(a: &Tenant, trap: &str, distinct: usize) -> Vec<String> {
    let attacker = SigningKey::generate(Algorithm::ES256).unwrap();
    let header = json!({
        "alg": "ES256", "typ": "at+jwt", "kid": a.key.kid(),
        "jku": format!("{trap}/jwks"), "x5u": format!("{trap}/x5u"),
    });
    let issuers: Vec<String> = (0..distinct)
        .map(|_| format!("{trap}/tenants/{}", random_hex()))
        .collect();
    let template = payload(&a.token());
    (0..10_000)
        .map(|i| {
            let mut claims = template.clone();
            claims["iss"] = issuers[i % distinct].clone().into();
            attacker.sign_jwt_with_header(&header, &claims)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_of_one_tenant_is_refused_where_only_the_other_is_trusted() {
    let (a, b) = (Tenant::start("a").await, Tenant::start("b").await);
    let only_b = MultiIssuerVerifier::builder()
        .trust(b.verifier())
        .build()
        .unwrap();
    let base = start_example(only_b).await;
    let refused = get(&format!("{base}/photos"), Some(&a.token())).await;
    assert_eq!(
        (refused.status, refused.www_authenticate.as_deref()),
        (401, Some(INVALID_TOKEN))
    );
    assert_eq!(
        get(&format!("{base}/photos"), Some(&b.token()))
            .await
            .status,
        200
    );
    assert_eq!(
        a.jwks.hits(),
        0,
        "A is not trusted: its key set is never asked"
    );
    assert_eq!(b.jwks.hits(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_of_both_tenants_are_accepted_where_both_are_trusted() {
    let (a, b) = (Tenant::start("a").await, Tenant::start("b").await);
    let both = MultiIssuerVerifier::builder()
        .trust(a.verifier())
        .trust(b.verifier())
        .build()
        .unwrap();
    let base = start_example(both).await;
    for _ in 0..3 {
        assert_eq!(
            get(&format!("{base}/photos"), Some(&a.token()))
                .await
                .status,
            200
        );
        assert_eq!(
            get(&format!("{base}/photos"), Some(&b.token()))
                .await
                .status,
            200
        );
    }
    assert_eq!(
        (a.jwks.hits(), b.jwks.hits()),
        (1, 1),
        "one key set fetch each"
    );
    // A third server's token, with the API's audience and a valid signature of its own.
    let c = Tenant::start("c").await;
    let refused = get(&format!("{base}/photos"), Some(&c.token())).await;
    assert_eq!(refused.status, 401);
    assert_eq!(c.jwks.hits(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn rfc8725_section_3_10_ten_thousand_untrusted_iss_values_cause_no_outbound_request() {
    let (a, b) = (Tenant::start("a").await, Tenant::start("b").await);
    let (trap, trap_url) = counter(None).await;
    let both = MultiIssuerVerifier::builder()
        .trust(a.verifier())
        .trust(b.verifier())
        .build()
        .unwrap();
    let base = start_example(both).await;
    let answers = send_all(&base, hostile_tokens(&a, &trap_url, 10_000)).await;
    assert!(
        answers.iter().all(
            |(status, challenge)| *status == 401 && challenge.as_deref() == Some(INVALID_TOKEN)
        ),
        "every hostile token is refused as invalid"
    );
    assert_eq!(
        (trap.hits(), a.jwks.hits(), b.jwks.hits()),
        (0, 0, 0),
        "no request left the API: not to the trap the tokens name, not to a tenant"
    );
    assert_eq!(
        get(&format!("{base}/photos"), Some(&a.token()))
            .await
            .status,
        200
    );
    assert_eq!(a.jwks.hits(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn rfc8725_section_3_10_the_resolver_is_asked_once_per_untrusted_iss_and_fetches_nothing() {
    let (a, b) = (Tenant::start("a").await, Tenant::start("b").await);
    let (trap, trap_url) = counter(None).await;
    let tenants: Arc<Vec<(String, String)>> = Arc::new(
        [&a, &b]
            .iter()
            .map(|t| (t.issuer().to_owned(), t.jwks_url.clone()))
            .collect(),
    );
    let calls = Arc::new(AtomicUsize::new(0));
    let resolver_calls = Arc::clone(&calls);
    let dynamic = MultiIssuerVerifier::builder()
        .resolver_fn(move |issuer: String| {
            resolver_calls.fetch_add(1, Ordering::SeqCst);
            let tenants = Arc::clone(&tenants);
            async move {
                // The tenant table decides; only a known tenant gets a verifier (whose key set
                // is fetched when a token of its needs it).
                Ok::<_, ResolveError>(
                    tenants
                        .iter()
                        .find(|(known, _)| *known == issuer)
                        .map(|(issuer, jwks_url)| verifier_for(issuer, jwks_url)),
                )
            }
        })
        .build()
        .unwrap();
    let base = start_example(dynamic).await;
    let answers = send_all(&base, hostile_tokens(&a, &trap_url, 100)).await;
    assert!(answers.iter().all(|(status, _)| *status == 401));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        100,
        "one resolver call per distinct untrusted iss: the refusals are remembered"
    );
    assert_eq!((trap.hits(), a.jwks.hits(), b.jwks.hits()), (0, 0, 0));
    for _ in 0..3 {
        assert_eq!(
            get(&format!("{base}/photos"), Some(&a.token()))
                .await
                .status,
            200
        );
        assert_eq!(
            get(&format!("{base}/photos"), Some(&b.token()))
                .await
                .status,
            200
        );
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        102,
        "each tenant resolved once"
    );
    assert_eq!((a.jwks.hits(), b.jwks.hits()), (1, 1));
}

#[tokio::test(flavor = "multi_thread")]
async fn rfc8725_section_3_8_a_token_naming_tenant_a_signed_by_tenant_b_is_refused() {
    let (a, b) = (Tenant::start("a").await, Tenant::start("b").await);
    let both = MultiIssuerVerifier::builder()
        .trust(a.verifier())
        .trust(b.verifier())
        .build()
        .unwrap();
    let base = start_example(both).await;
    let in_a_name = payload(&a.token());
    // B's real key and kid, A's claims: A's key set has no such key.
    let forged = b.key.sign_jwt(&in_a_name);
    // B's real key under A's kid: the signature does not verify with A's key.
    let relabelled = b.key.sign_jwt_with_header(
        &json!({"alg": "ES256", "typ": "at+jwt", "kid": "a"}),
        &in_a_name,
    );
    for token in [&forged, &relabelled] {
        let refused = get(&format!("{base}/photos"), Some(token)).await;
        assert_eq!(
            (refused.status, refused.www_authenticate.as_deref()),
            (401, Some(INVALID_TOKEN))
        );
    }
    assert_eq!(
        b.jwks.hits(),
        0,
        "B's keys are never consulted for a token in A's name"
    );
    assert!(
        a.jwks.hits() <= 2,
        "A's set once, and once more for the unknown kid"
    );
    // The control: the same claims signed by A pass.
    assert_eq!(
        get(&format!("{base}/photos"), Some(&a.key.sign_jwt(&in_a_name)))
            .await
            .status,
        200
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_tokens_and_tokens_without_iss_are_refused_without_network() {
    let a = Tenant::start("a").await;
    let calls = Arc::new(AtomicUsize::new(0));
    let resolver_calls = Arc::clone(&calls);
    let verifier = MultiIssuerVerifier::builder()
        .trust(a.verifier())
        .resolver_fn(move |_issuer: String| {
            resolver_calls.fetch_add(1, Ordering::SeqCst);
            async { Ok(None) }
        })
        .build()
        .unwrap();
    let base = start_example(verifier).await;
    let mut without_iss = payload(&a.token());
    without_iss.as_object_mut().unwrap().remove("iss");
    let segment = |value: &str| URL_SAFE_NO_PAD.encode(value);
    let header = segment(r#"{"alg":"ES256","typ":"at+jwt","kid":"a"}"#);
    let tokens = [
        // Really signed by A, with no iss.
        a.key.sign_jwt(&without_iss),
        a.key
            .sign_jwt(&json!({"iss": 7, "aud": photos_demo::AUDIENCE})),
        a.key.sign_jwt(&json!([a.issuer()])),
        format!("{header}.{}.c2ln", segment("not json")),
        format!("{header}.{}", segment(r#"{"iss":"x"}"#)),
        format!(
            "{}.{}.",
            segment(r#"{"alg":"none"}"#),
            segment(&json!({"iss": a.issuer()}).to_string())
        ),
    ];
    for token in &tokens {
        let refused = get(&format!("{base}/photos"), Some(token)).await;
        assert_eq!(
            (refused.status, refused.www_authenticate.as_deref()),
            (401, Some(INVALID_TOKEN)),
            "{token}"
        );
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "the resolver is never asked"
    );
    assert_eq!(a.jwks.hits(), 0, "no key set is fetched");
}

#[requires_scope("photos:read")]
#[rocket::get("/guarded")]
async fn guarded(claims: Claims) -> String {
    claims.issuer().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn several_issuers_from_rocket_configuration() {
    let (a, b, c) = (
        Tenant::start("a").await,
        Tenant::start("b").await,
        Tenant::start("c").await,
    );
    // As `[default.oauth]` with `[[default.oauth.issuers]]` tables in Rocket.toml.
    let figment = rocket::figment::Figment::from(rocket_config())
        .merge(("oauth.audience", photos_demo::AUDIENCE))
        .merge(("oauth.rfc9068", true))
        .merge((
            "oauth.issuers",
            json!([
                { "issuer": a.issuer(), "jwks_url": a.jwks_url },
                { "issuer": b.issuer(), "jwks_url": b.jwks_url },
            ]),
        ));
    let rocket = rocket::custom(figment)
        .attach(AuthFairing::from_config())
        .mount("/", rocket::routes![guarded]);
    let base = launch_rocket(rocket).await;
    for tenant in [&a, &b] {
        let answer = get(&format!("{base}/guarded"), Some(&tenant.token())).await;
        assert_eq!(
            (answer.status, answer.body.as_str()),
            (200, tenant.issuer())
        );
    }
    let refused = get(&format!("{base}/guarded"), Some(&c.token())).await;
    assert_eq!(refused.status, 401);
    assert_eq!((a.jwks.hits(), b.jwks.hits(), c.jwks.hits()), (1, 1, 0));
}
