//! Clients that are not in the configuration: those registered at `/register` (RFC 7591) and
//! those whose `client_id` is the URL of a client ID metadata document (the MCP authorization
//! specification's preferred registration). Both are public clients with PKCE, both are kept in
//! bounded memory, and both rest on one set of checks of client metadata.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::{Semaphore, watch};

use super::config::{Client, Grant};
use crate::JwksSettings;

/// Registered clients kept by default (see [`super::DevServer::dynamic_registration`]).
pub(crate) const DEFAULT_MAX_REGISTERED: usize = 100;
/// Redirect URIs one client may list.
const MAX_REDIRECT_URIS: usize = 10;
/// The longest redirect URI or metadata document URL accepted.
const MAX_URI_LEN: usize = 2048;
/// The longest `client_name` kept.
const MAX_NAME_LEN: usize = 200;
/// Metadata documents cached at most; the one that expires first gives way.
const MAX_DOCUMENTS: usize = 256;
/// A metadata document is a few hundred bytes; anything much larger is not one.
const MAX_DOCUMENT_BYTES: usize = 8 * 1024;
/// Document fetches running at once, whatever their URLs: `/authorize` needs no credentials,
/// so without a bound anyone could make this server send as many requests as they send it.
const MAX_FETCHES_IN_FLIGHT: usize = 4;
/// How long a document that could not be fetched or used is refused without asking again.
const FAILURE_MEMORY: Duration = Duration::from_secs(60);
/// Failed document URLs remembered at most; the one remembered longest gives way.
const MAX_FAILURES: usize = 256;
/// How long a fetched document is trusted: its `Cache-Control: max-age` within these bounds.
const DOCUMENT_TTL: (Duration, Duration, Duration) = (
    Duration::from_secs(60),
    Duration::from_secs(300),
    Duration::from_secs(3600),
);

/// An RFC 7591 §3.2.2 error: the `error` code and a fixed `error_description`.
pub(crate) type MetadataError = (&'static str, &'static str);

const fn invalid_metadata(description: &'static str) -> MetadataError {
    ("invalid_client_metadata", description)
}

const fn invalid_redirect(description: &'static str) -> MetadataError {
    ("invalid_redirect_uri", description)
}

/// Client metadata (RFC 7591 §2) as this server accepts it: a public client (`none`) using the
/// authorization code with PKCE, and refresh tokens if it asks for them.
#[derive(Debug, Clone)]
pub(crate) struct Metadata {
    pub(crate) redirect_uris: Vec<String>,
    pub(crate) grants: Vec<Grant>,
    pub(crate) client_name: Option<String>,
}

impl Metadata {
    /// Checks a registration request or a metadata document. Unknown members are ignored
    /// (RFC 7591 §2); members this server cannot honour are refused rather than silently
    /// changed, so that a client never believes it got what it did not.
    pub(crate) fn parse(document: &Value) -> Result<Metadata, MetadataError> {
        let Some(object) = document.as_object() else {
            return Err(invalid_metadata(
                "the client metadata must be a JSON object",
            ));
        };
        match object.get("token_endpoint_auth_method") {
            None => {}
            Some(method) if method == "none" => {}
            Some(_) => {
                return Err(invalid_metadata(
                    "only public clients: token_endpoint_auth_method must be none",
                ));
            }
        }
        let strings = |name: &str, default: &[&str]| -> Result<Vec<String>, MetadataError> {
            match object.get(name) {
                None => Ok(default.iter().map(|s| (*s).to_owned()).collect()),
                Some(Value::Array(items)) if items.len() <= MAX_REDIRECT_URIS => items
                    .iter()
                    .map(|v| v.as_str().map(str::to_owned))
                    .collect::<Option<Vec<_>>>()
                    .ok_or(invalid_metadata("a list member is not a string")),
                Some(_) => Err(invalid_metadata("a list is malformed or too long")),
            }
        };
        // RFC 7591 §2: without grant_types, authorization_code; without response_types, code.
        let mut grants = Vec::new();
        for grant in strings("grant_types", &["authorization_code"])? {
            let grant = match grant.as_str() {
                "authorization_code" => Grant::AuthorizationCode,
                "refresh_token" => Grant::RefreshToken,
                _ => {
                    return Err(invalid_metadata(
                        "grant_types may list authorization_code and refresh_token only",
                    ));
                }
            };
            if !grants.contains(&grant) {
                grants.push(grant);
            }
        }
        if !grants.contains(&Grant::AuthorizationCode) {
            return Err(invalid_metadata(
                "grant_types must include authorization_code",
            ));
        }
        if strings("response_types", &["code"])?
            .iter()
            .any(|r| r != "code")
        {
            return Err(invalid_metadata("response_types may list code only"));
        }
        let redirect_uris = match object.get("redirect_uris") {
            Some(Value::Array(items)) if !items.is_empty() && items.len() <= MAX_REDIRECT_URIS => {
                items
                    .iter()
                    .map(|v| {
                        v.as_str()
                            .filter(|uri| acceptable_redirect_uri(uri))
                            .map(str::to_owned)
                            .ok_or(invalid_redirect(
                                "each redirect URI must be https, or http on a loopback address, without a fragment",
                            ))
                    })
                    .collect::<Result<Vec<_>, _>>()?
            }
            _ => {
                return Err(invalid_redirect(
                    "redirect_uris must list from 1 to 10 redirect URIs",
                ));
            }
        };
        let client_name = match object.get("client_name") {
            None => None,
            Some(Value::String(name)) if name.chars().count() <= MAX_NAME_LEN => Some(name.clone()),
            Some(_) => return Err(invalid_metadata("client_name is not a short string")),
        };
        Ok(Metadata {
            redirect_uris,
            grants,
            client_name,
        })
    }

    pub(crate) fn into_client(self, id: String) -> Client {
        Client::public(id, self.redirect_uris).with_grants(self.grants)
    }
}

/// Whether a host is the loopback interface (RFC 8252 §7.3, §8.3).
fn loopback(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
        url::Host::Domain(domain) => domain.eq_ignore_ascii_case("localhost"),
    }
}

/// An https URL, or http on loopback (RFC 8252 §7.3), absolute, without fragment or user
/// information, and written as its parsed form (so nothing is hidden by normalisation).
fn acceptable_url(uri: &str) -> Option<url::Url> {
    if uri.len() > MAX_URI_LEN {
        return None;
    }
    let url = url::Url::parse(uri).ok()?;
    let scheme_ok = match (url.scheme(), url.host()) {
        ("https", Some(_)) => true,
        ("http", Some(host)) => loopback(&host),
        _ => false,
    };
    let clean = url.fragment().is_none() && url.username().is_empty() && url.password().is_none();
    (scheme_ok && clean).then_some(url)
}

/// A redirect URI a registered or self-described client may list.
pub(crate) fn acceptable_redirect_uri(uri: &str) -> bool {
    acceptable_url(uri).is_some()
}

/// Whether `client_id` has the shape of a client ID metadata document URL: https (or http on
/// loopback), with a path, without fragment, user information or dot segments.
pub(crate) fn metadata_document_url(client_id: &str) -> bool {
    acceptable_url(client_id).is_some_and(|url| {
        // `url` removes dot segments and lower-cases the host: a differing serialisation
        // means the id is not the document's one plain name.
        url.as_str() == client_id && url.path() != "/"
    })
}

/// Why a client ID metadata document was not used. Fixed texts: they are shown on the error
/// page, and a fetched document must not choose what the page says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DocumentRefused(pub(crate) &'static str);

/// Every fetch slot is taken: refused at once, as queueing would let waiters pile up.
const BUSY: DocumentRefused =
    DocumentRefused("too many client metadata documents are being fetched: try again in a moment");

/// What one fetch of a document ends with; `None` while it runs.
type Outcome = Option<Result<Arc<Client>, DocumentRefused>>;

#[derive(Debug, Default)]
struct Maps {
    /// Registered clients with the order of their registration, for oldest-out.
    registered: HashMap<String, (Arc<Client>, u64)>,
    next: u64,
    documents: HashMap<String, (Arc<Client>, Instant)>,
    /// Documents refused recently, with why and until when: asking again at once would get the
    /// same answer and make this server a reflector for whoever names the URL.
    failures: HashMap<String, (DocumentRefused, Instant)>,
    /// Fetches running, one per URL, which later requests for the same URL wait on. At most
    /// `MAX_FETCHES_IN_FLIGHT`: an entry exists only while its fetch holds a slot.
    in_flight: HashMap<String, watch::Receiver<Outcome>>,
}

impl Maps {
    /// Keeps the outcome of a fetch: a document until its time to live ends, a refusal for
    /// `FAILURE_MEMORY`; each map bounded, the entry that ends first giving way.
    fn remember(
        &mut self,
        url: &str,
        outcome: &Result<(Arc<Client>, Duration), DocumentRefused>,
        now: Instant,
    ) {
        fn make_room<V>(map: &mut HashMap<String, V>, until: impl Fn(&V) -> Instant, max: usize) {
            if map.len() >= max
                && let Some(first) = map
                    .iter()
                    .min_by_key(|(_, v)| until(v))
                    .map(|(id, _)| id.clone())
            {
                map.remove(&first);
            }
        }
        match outcome {
            Ok((client, ttl)) => {
                self.failures.remove(url);
                self.documents.retain(|_, (_, until)| *until > now);
                make_room(&mut self.documents, |(_, until)| *until, MAX_DOCUMENTS);
                let expires = now.checked_add(*ttl).unwrap_or(now);
                self.documents
                    .insert(url.to_owned(), (client.clone(), expires));
            }
            Err(refused) => {
                self.failures.retain(|_, (_, until)| *until > now);
                make_room(&mut self.failures, |(_, until)| *until, MAX_FAILURES);
                let until = now.checked_add(FAILURE_MEMORY).unwrap_or(now);
                self.failures.insert(url.to_owned(), (*refused, until));
            }
        }
    }
}

/// The clients registered at run time and the metadata documents fetched, both bounded.
#[derive(Debug)]
pub(crate) struct Registry {
    /// How many registered clients are kept; `None`: registration is off.
    pub(crate) max_registered: Option<usize>,
    /// Whether URL client ids are resolved through their metadata documents.
    pub(crate) metadata_documents: bool,
    maps: Arc<Mutex<Maps>>,
    /// The client documents are fetched with; `None` if it could not be built.
    http: OnceLock<Option<reqwest::Client>>,
    /// Fetch slots (`MAX_FETCHES_IN_FLIGHT`).
    fetches: Arc<Semaphore>,
}

impl Registry {
    pub(crate) fn new(max_registered: Option<usize>, metadata_documents: bool) -> Registry {
        Registry {
            max_registered,
            metadata_documents,
            maps: Arc::default(),
            http: OnceLock::new(),
            fetches: Arc::new(Semaphore::new(MAX_FETCHES_IN_FLIGHT)),
        }
    }

    fn maps(&self) -> MutexGuard<'_, Maps> {
        lock(&self.maps)
    }

    /// A registered client, or one whose document is cached and fresh.
    pub(crate) fn get(&self, id: &str) -> Option<Arc<Client>> {
        let maps = self.maps();
        if let Some((client, _)) = maps.registered.get(id) {
            return Some(client.clone());
        }
        maps.documents
            .get(id)
            .filter(|(_, expires)| *expires > Instant::now())
            .map(|(client, _)| client.clone())
    }

    /// Keeps a newly registered client. At the bound the oldest registration gives way: a
    /// flood cannot grow memory, and cannot shut registration for the person who starts an
    /// MCP client next either (refusing instead would, until a restart). A client that lost
    /// its registration learns it from `invalid_client` and registers again.
    pub(crate) fn register(&self, client: Client) -> Arc<Client> {
        let max = self.max_registered.unwrap_or(0).max(1);
        let mut maps = self.maps();
        while maps.registered.len() >= max {
            let Some(oldest) = maps
                .registered
                .iter()
                .min_by_key(|(_, (_, order))| *order)
                .map(|(id, _)| id.clone())
            else {
                break;
            };
            maps.registered.remove(&oldest);
        }
        maps.next += 1;
        let order = maps.next;
        let client = Arc::new(client);
        maps.registered
            .insert(client.id.clone(), (client.clone(), order));
        client
    }

    /// How many registered clients and cached documents are held.
    pub(crate) fn counts(&self) -> (usize, usize) {
        let maps = self.maps();
        (maps.registered.len(), maps.documents.len())
    }

    /// The client a metadata document at `url` describes: from the cache while fresh, else
    /// fetched (https or loopback http, no redirects, at most `MAX_DOCUMENT_BYTES`, a timeout)
    /// and checked: its `client_id` must be `url` itself. Requests for a URL being fetched wait
    /// for that fetch; a URL refused within `FAILURE_MEMORY` is refused again without a fetch;
    /// with every fetch slot taken the answer is an immediate refusal.
    pub(crate) async fn resolve_document(&self, url: &str) -> Result<Arc<Client>, DocumentRefused> {
        if !self.metadata_documents {
            return Err(DocumentRefused("unknown or missing client_id"));
        }
        if !metadata_document_url(url) {
            return Err(DocumentRefused(
                "a URL client_id must be https (or http on loopback), with a path and without a fragment",
            ));
        }
        let mut outcome = {
            let now = Instant::now();
            let mut maps = self.maps();
            if let Some((client, _)) = maps.documents.get(url).filter(|(_, until)| *until > now) {
                return Ok(client.clone());
            }
            if let Some((refused, _)) = maps.failures.get(url).filter(|(_, until)| *until > now) {
                return Err(*refused);
            }
            match maps.in_flight.get(url) {
                Some(running) => running.clone(),
                None => {
                    let slot = self.fetches.clone().try_acquire_owned().map_err(|_| BUSY)?;
                    let (done, running) = watch::channel(None);
                    maps.in_flight.insert(url.to_owned(), running.clone());
                    let http = self.http.get_or_init(document_client).clone();
                    let (maps, url) = (self.maps.clone(), url.to_owned());
                    // A task of its own, so that a request given up on does not leave the URL
                    // marked as being fetched with nobody fetching it.
                    tokio::spawn(async move {
                        let fetched = match http {
                            Some(http) => fetch(&http, &url)
                                .await
                                .map(|(client, ttl)| (Arc::new(client), ttl)),
                            None => Err(DocumentRefused(
                                "the client metadata document could not be fetched",
                            )),
                        };
                        {
                            let mut maps = lock(&maps);
                            maps.remember(&url, &fetched, Instant::now());
                            maps.in_flight.remove(&url);
                        }
                        drop(slot);
                        let _ = done.send(Some(fetched.map(|(client, _)| client)));
                    });
                    running
                }
            }
        };
        match outcome.wait_for(Option::is_some).await {
            Ok(outcome) => outcome.clone().unwrap_or(Err(BUSY)),
            // The fetching task ended without an answer: it panicked.
            Err(_) => Err(DocumentRefused(
                "the client metadata document could not be fetched",
            )),
        }
    }
}

fn lock(maps: &Mutex<Maps>) -> MutexGuard<'_, Maps> {
    maps.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The HTTP client for documents: redirects off. The document must be served at the URL that
/// is its `client_id` (the OAuth client ID metadata document draft); one reached by a redirect
/// is another site's, and must not speak for this id. `None` if no client can be built (the
/// TLS backend failed): a default client would follow redirects.
fn document_client() -> Option<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .inspect_err(|error| {
            tracing::error!(%error, "building the HTTP client for client metadata documents failed");
        })
        .ok()
}

async fn fetch(http: &reqwest::Client, url: &str) -> Result<(Client, Duration), DocumentRefused> {
    let settings = JwksSettings {
        max_body: MAX_DOCUMENT_BYTES,
        ..JwksSettings::default()
    };
    let response = http
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .timeout(settings.timeout)
        .send()
        .await
        .map_err(|error| {
            tracing::debug!(%error, url, "client metadata document not fetched");
            DocumentRefused("the client metadata document could not be fetched")
        })?;
    if response.status().is_redirection() || response.url().as_str() != url {
        tracing::debug!(status = %response.status(), url, "client metadata document redirected");
        return Err(DocumentRefused(
            "the client metadata document URL answered with a redirect: the document must be served at its client_id URL itself",
        ));
    }
    let (min, default, max) = DOCUMENT_TTL;
    let ttl = crate::verify::jwks::max_age(response.headers())
        .unwrap_or(default)
        .clamp(min, max);
    let body = crate::verify::jwks::read_body(response, &settings)
        .await
        .map_err(|(_, error)| {
            tracing::debug!(%error, url, "client metadata document refused");
            DocumentRefused("the client metadata document could not be fetched (status or size)")
        })?;
    let document: Value = serde_json::from_slice(&body)
        .map_err(|_| DocumentRefused("the client metadata document is not JSON"))?;
    // The document names itself: one served at another URL (or naming another client)
    // must not lend its redirect URIs to this id.
    if document.get("client_id").and_then(Value::as_str) != Some(url) {
        return Err(DocumentRefused(
            "the client metadata document's client_id differs from its URL",
        ));
    }
    let metadata = Metadata::parse(&document).map_err(|(_, description)| {
        tracing::debug!(description, url, "client metadata document refused");
        DocumentRefused("the client metadata document is not acceptable")
    })?;
    Ok((metadata.into_client(url.to_owned()), ttl))
}

/// The RFC 7591 §3.2.1 answer for a registered client.
pub(crate) fn registration_answer(client: &Client, name: Option<&str>, issued_at: u64) -> Value {
    let grants: Vec<&str> = client
        .grants
        .iter()
        .filter_map(|g| match g {
            Grant::AuthorizationCode => Some("authorization_code"),
            Grant::RefreshToken => Some("refresh_token"),
            _ => None,
        })
        .collect();
    let mut answer = json!({
        "client_id": client.id,
        "client_id_issued_at": issued_at,
        "redirect_uris": client.redirect_uris,
        "grant_types": grants,
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    });
    if let Some(name) = name {
        answer["client_name"] = name.into();
    }
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7591_section_2_metadata_of_public_pkce_clients_only() {
        let ok = Metadata::parse(&json!({
            "redirect_uris": ["http://127.0.0.1/cb", "https://app.example/cb"],
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": "none",
            "client_name": "Inspector",
            "software_id": "ignored",
        }))
        .expect("acceptable");
        assert_eq!(ok.grants, [Grant::AuthorizationCode, Grant::RefreshToken]);
        let defaults = Metadata::parse(&json!({ "redirect_uris": ["https://a.example/cb"] }))
            .expect("acceptable");
        assert_eq!(defaults.grants, [Grant::AuthorizationCode]);
        for (document, code) in [
            (json!([]), "invalid_client_metadata"),
            (json!({ "redirect_uris": [] }), "invalid_redirect_uri"),
            (json!({}), "invalid_redirect_uri"),
            (
                json!({ "redirect_uris": ["http://evil.example/cb"] }),
                "invalid_redirect_uri",
            ),
            (
                json!({ "redirect_uris": ["https://a.example/cb#f"] }),
                "invalid_redirect_uri",
            ),
            (
                json!({ "redirect_uris": ["https://u:p@a.example/cb"] }),
                "invalid_redirect_uri",
            ),
            (
                json!({ "redirect_uris": ["javascript:alert(1)"] }),
                "invalid_redirect_uri",
            ),
            (json!({ "redirect_uris": [1] }), "invalid_redirect_uri"),
            (
                json!({ "redirect_uris": vec!["https://a.example/cb"; 11] }),
                "invalid_redirect_uri",
            ),
            (
                json!({ "redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "client_secret_basic" }),
                "invalid_client_metadata",
            ),
            (
                json!({ "redirect_uris": ["https://a.example/cb"], "grant_types": ["implicit"] }),
                "invalid_client_metadata",
            ),
            (
                json!({ "redirect_uris": ["https://a.example/cb"], "grant_types": ["refresh_token"] }),
                "invalid_client_metadata",
            ),
            (
                json!({ "redirect_uris": ["https://a.example/cb"], "response_types": ["token"] }),
                "invalid_client_metadata",
            ),
            (
                json!({ "redirect_uris": ["https://a.example/cb"], "client_name": "x".repeat(201) }),
                "invalid_client_metadata",
            ),
        ] {
            assert_eq!(
                Metadata::parse(&document).map(|_| ()).map_err(|e| e.0),
                Err(code),
                "{document}"
            );
        }
    }

    #[test]
    fn remembered_document_failures_are_bounded_and_lapse() {
        let mut maps = Maps::default();
        let now = Instant::now();
        let refused = Err(DocumentRefused("no"));
        for i in 0..MAX_FAILURES + 50 {
            let at = now + Duration::from_millis(i as u64);
            maps.remember(&format!("https://a.example/{i}"), &refused, at);
        }
        assert_eq!(maps.failures.len(), MAX_FAILURES);
        assert!(
            !maps.failures.contains_key("https://a.example/0"),
            "the oldest gave way"
        );
        let later = now + FAILURE_MEMORY + Duration::from_secs(1);
        maps.remember("https://b.example/x", &refused, later);
        assert_eq!(maps.failures.len(), 1, "lapsed ones are dropped");
    }

    #[test]
    fn client_id_metadata_document_urls() {
        for ok in [
            "https://app.example/client.json",
            "http://127.0.0.1:8080/oauth/client",
            "http://[::1]/c",
            "http://localhost:3000/c",
        ] {
            assert!(metadata_document_url(ok), "{ok}");
        }
        for bad in [
            "https://app.example",
            "https://app.example/",
            "http://app.example/client.json",
            "https://app.example/client.json#x",
            "https://u:p@app.example/c",
            "https://app.example/a/../c",
            "https://APP.example/c",
            "demo-spa",
        ] {
            assert!(!metadata_document_url(bad), "{bad}");
        }
    }

    #[test]
    fn registrations_beyond_the_bound_push_out_the_oldest() {
        let registry = Registry::new(Some(3), false);
        for i in 0..5 {
            registry.register(Client::public(format!("c{i}"), ["https://a/cb"]));
        }
        assert_eq!(registry.counts(), (3, 0));
        assert!(registry.get("c0").is_none() && registry.get("c1").is_none());
        assert!(registry.get("c4").is_some());
    }
}
