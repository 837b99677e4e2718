//! The pages people see, in a real browser: the example's web client (`/`, `/callback`) and the
//! development server's login and consent page, driven in Debian's headless Chromium through
//! chromedriver (WebDriver), each case as a person does it. A plain HTTP client cannot tell
//! whether the form submits, the cookie goes along, the redirect lands, the fragment is read,
//! the page fits a phone or the browser honours the security headers; these tests can.
//!
//! Each browser test starts its own chromedriver on a free loopback port and one Chromium
//! session with a fresh profile, and they take turns (one lock), so that two Chromiums never
//! compete for the two cores. Without `chromium` and `chromedriver` on `PATH` they print that
//! they were skipped and pass, unless `OAUTH_REQUIRE_BROWSER=1` (set by `.ci/run`), where a
//! missing browser fails them. The header tests at the end need no browser.
//!
//! `OAUTH_UPDATE_SCREENSHOT=1` makes the 375-px test write the consent page to
//! `docs/consent.png` for the README; otherwise no picture is taken or compared, since fonts
//! differ between machines.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use oauth_e2e::support::*;
use oauth_runtime::dev::{Client as DevClient, DevServerConfig, DevServerHandle, Grant};
use photos_demo::{ClientApp, authenticator};
use serde_json::{Value, json};

/// One browser at a time: Chromium is heavy for a 2-core machine, and parallel starts made
/// each of them slower than running them in turn.
static BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A generous bound for one step (a navigation, an element to appear) on a loaded machine.
const STEP: Duration = Duration::from_secs(20);

/// The photo every example here starts with, so that "see the photos" has something to see.
const PHOTO: &str = "Sunset over the bay";

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

/// The screen a test's browser emulates.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Screen {
    Desktop,
    /// 375 CSS px wide, as a mobile browser: it honours the viewport meta tag, and without one
    /// lays the page out 980 px wide and zooms out, as a phone does. A desktop window of 375 px
    /// would lay out any page at 375 and hide that.
    Phone,
}

/// Runs `body` with a fresh desktop browser session, or says why it cannot (see the module doc).
async fn with_browser<F, Fut>(body: F)
where
    F: FnOnce(Client) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    with_screen(Screen::Desktop, body).await;
}

async fn with_screen<F, Fut>(screen: Screen, body: F)
where
    F: FnOnce(Client) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    // The test harness names each test's thread after the test, and `#[tokio::test]` runs the
    // test's future on that thread.
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("a browser test");
    let (Some(chromium), Some(chromedriver)) = (on_path("chromium"), on_path("chromedriver"))
    else {
        assert!(
            std::env::var("OAUTH_REQUIRE_BROWSER").as_deref() != Ok("1"),
            "OAUTH_REQUIRE_BROWSER=1 but `chromium` or `chromedriver` is not on PATH: .ci/run \
             installs them (apt-get install chromium chromium-driver)"
        );
        eprintln!(
            "SKIPPED {test}: `chromium` or `chromedriver` is not installed (apt-get install \
             chromium chromium-driver); CI sets OAUTH_REQUIRE_BROWSER=1 and fails instead"
        );
        return;
    };
    let _turn = BROWSER.lock().await;
    let session = Session::start(&chromium, &chromedriver, screen).await;
    let client = session.client.clone();
    // The body runs as its own task so that a failed assertion still reaches the clean-up
    // below, which a panic unwinding through this function would skip for the async part.
    let outcome = tokio::time::timeout(Duration::from_secs(120), tokio::spawn(body(client))).await;
    session.stop().await;
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(join)) => std::panic::resume_unwind(join.into_panic()),
        Err(_) => panic!("{test}: the browser test did not finish within 120 s"),
    }
}

/// chromedriver and the Chromium it drives.
struct Session {
    client: Client,
    _driver: Driver,
}

/// The chromedriver process group and its profile directory, ended and removed on drop, also
/// when the session never started.
struct Driver {
    child: Child,
    profile: PathBuf,
}

impl Drop for Driver {
    fn drop(&mut self) {
        // Chromium runs in chromedriver's process group: a failed quit leaves nothing behind.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

impl Session {
    async fn start(chromium: &Path, chromedriver: &Path, screen: Screen) -> Session {
        static COUNT: AtomicU32 = AtomicU32::new(0);
        let profile = std::env::temp_dir().join(format!(
            "oauth-e2e-chromium-{}-{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&profile).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = std::fs::File::create(profile.join("chromedriver.log")).unwrap();
        let child = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(log)
            // Its own process group, so that the clean-up can end Chromium with it.
            .process_group(0)
            .spawn()
            .expect("chromedriver starts");
        let mut driver = Driver { child, profile };
        let profile = driver.profile.clone();
        let deadline = Instant::now() + STEP;
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                driver.child.try_wait().unwrap().is_none(),
                "chromedriver exited at start; its log:\n{}",
                std::fs::read_to_string(profile.join("chromedriver.log")).unwrap_or_default()
            );
            assert!(Instant::now() < deadline, "chromedriver did not listen");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--window-size=1024,768",
                    format!("--user-data-dir={}", profile.join("profile").display()),
                ],
                // No password-manager prompts or leak checks over the consent form.
                "prefs": {
                    "credentials_enable_service": false,
                    "profile.password_manager_enabled": false,
                },
            },
        });
        let mut capabilities = capabilities;
        if screen == Screen::Phone {
            capabilities["goog:chromeOptions"]["mobileEmulation"] = json!({
                "deviceMetrics": { "width": 375, "height": 812, "pixelRatio": 1.0, "mobile": true },
            });
        }
        let Value::Object(capabilities) = capabilities else {
            unreachable!()
        };
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("chromedriver starts a Chromium session");
        Session {
            client,
            _driver: driver,
        }
    }

    async fn stop(self) {
        // Ending the session quits Chromium; dropping the driver ends the rest.
        let _ = tokio::time::timeout(STEP, self.client.clone().close()).await;
    }
}

/// The axum example with its client pages and the embedded development server (the demo
/// configuration, redirecting to the example's `/callback`), with one photo in the store.
struct Example {
    api: String,
    issuer: String,
    _server: DevServerHandle,
}

async fn example(configure: impl FnOnce(&mut DevServerConfig, &str)) -> Example {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = format!("http://{}", listener.local_addr().unwrap());
    let mut config = DevServerConfig::demo();
    config.port = 0;
    for client in &mut config.clients {
        client.redirect_uris = vec![format!("{api}/callback")];
    }
    configure(&mut config, &api);
    let server = config.into_server().unwrap().start().await.unwrap();
    let app = photos_axum::app(
        authenticator(server.verifier().unwrap(), None).unwrap(),
        Arc::new(ClientApp::new(server.issuer(), &api)),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let created = reqwest::Client::new()
        .post(format!("{api}/photos"))
        .bearer_auth(server.mint_token("alice", "photos:write"))
        .json(&json!({ "title": PHOTO }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    Example {
        api,
        issuer: server.issuer().to_owned(),
        _server: server,
    }
}

/// Waits until the address bar satisfies `ready`; returns it.
async fn wait_for_url(browser: &Client, what: &str, ready: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + STEP;
    loop {
        let url = browser.current_url().await.unwrap().to_string();
        if ready(&url) {
            return url;
        }
        assert!(Instant::now() < deadline, "waited for {what}; at {url}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the page's visible text contains `text`; returns that text.
async fn wait_for_text(browser: &Client, text: &str) -> String {
    let deadline = Instant::now() + STEP;
    loop {
        let shown = match browser.find(Locator::Css("body")).await {
            Ok(body) => body.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if shown.contains(text) {
            return shown;
        }
        assert!(
            Instant::now() < deadline,
            "waited for {text:?} on the page; it shows {shown:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The input a person finds by its label's text, whether the label wraps it or names its id:
/// a field without a label is not found, which is the accessibility check.
async fn labelled(browser: &Client, label: &str) -> fantoccini::elements::Element {
    let xpath = format!(
        "//label[starts-with(normalize-space(.), '{label}')]//input \
         | //input[@id and @id = //label[starts-with(normalize-space(.), '{label}')]/@for]"
    );
    browser
        .find(Locator::XPath(&xpath))
        .await
        .unwrap_or_else(|e| panic!("no input labelled {label:?}: {e}"))
}

/// Types into the login form and presses `button` ("Approve" or "Deny").
async fn sign_in(browser: &Client, username: &str, password: &str, button: &str) {
    let user = labelled(browser, "Username").await;
    user.clear().await.unwrap();
    user.send_keys(username).await.unwrap();
    let pass = labelled(browser, "Password").await;
    pass.clear().await.unwrap();
    pass.send_keys(password).await.unwrap();
    browser
        .find(Locator::XPath(&format!(
            "//button[normalize-space(.)='{button}']"
        )))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// From the example's home page to the consent page, by its link.
async fn open_login(browser: &Client, example: &Example) {
    browser.goto(&format!("{}/", example.api)).await.unwrap();
    browser
        .find(Locator::LinkText("Log in"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let consent = format!("{}/authorize?", example.issuer);
    wait_for_url(browser, "the consent page", |url| url.starts_with(&consent)).await;
    wait_for_text(browser, "asks for access to").await;
}

/// The code flow as a person runs it (RFC 6749 §4.1): the consent page lists the scopes with
/// the catalog's descriptions, Approve redirects to the client (which the consent page's
/// `form-action` must allow), and the client shows the photos.
#[tokio::test(flavor = "multi_thread")]
async fn rfc6749_section_4_1_a_person_logs_in_through_the_example_and_sees_the_photos() {
    let example = example(|_, _| {}).await;
    with_browser(move |browser| async move {
        open_login(&browser, &example).await;
        let consent = wait_for_text(&browser, "See your photos").await;
        assert!(
            consent.contains("photos:read: See your photos"),
            "{consent}"
        );
        assert!(
            consent.contains("albums:read: See your albums"),
            "{consent}"
        );
        assert!(consent.contains("demo-client"), "{consent}");

        sign_in(&browser, "alice", "wonderland", "Approve").await;
        let callback = format!("{}/callback?code=", example.api);
        wait_for_url(&browser, "the client's callback", |url| {
            url.starts_with(&callback)
        })
        .await;
        let page = wait_for_text(&browser, PHOTO).await;
        assert!(page.contains("Logged in"), "{page}");
        assert!(
            page.contains("Granted scopes: albums:read photos:read"),
            "{page}"
        );
        assert!(page.contains("GET /photos answered 200"), "{page}");
    })
    .await;
}

/// A wrong password shows the reason on the same page, and each one is counted: the page
/// allows three (the default `per_page`) and then closes.
#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_password_shows_the_message_and_is_counted() {
    let example = example(|_, _| {}).await;
    with_browser(move |browser| async move {
        open_login(&browser, &example).await;
        for attempt in 1..=2 {
            sign_in(&browser, "alice", "not-her-password", "Approve").await;
            let page = wait_for_text(&browser, "wrong username or password").await;
            assert!(
                page.contains("asks for access to"),
                "attempt {attempt}: {page}"
            );
            // The form is shown again, its password field empty.
            let password = labelled(&browser, "Password").await;
            assert_eq!(password.prop("value").await.unwrap().as_deref(), Some(""));
        }
        sign_in(&browser, "alice", "still-wrong", "Approve").await;
        let page = wait_for_text(&browser, "too many failed sign-ins on this page").await;
        assert!(!page.contains("asks for access to"), "{page}");
        let consent = format!("{}/authorize", example.issuer);
        let url = browser.current_url().await.unwrap().to_string();
        assert!(
            url.starts_with(&consent),
            "no redirect to the client: {url}"
        );
    })
    .await;
}

/// RFC 6749 §4.1.2.1: Deny sends `access_denied` to the client, which shows it.
#[tokio::test(flavor = "multi_thread")]
async fn rfc6749_section_4_1_2_1_denying_consent_shows_the_error_in_the_client() {
    let example = example(|_, _| {}).await;
    with_browser(move |browser| async move {
        open_login(&browser, &example).await;
        sign_in(&browser, "", "", "Deny").await;
        let callback = format!("{}/callback?error=access_denied", example.api);
        wait_for_url(&browser, "the client's callback with the error", |url| {
            url.starts_with(&callback)
        })
        .await;
        let page = wait_for_text(&browser, "access_denied").await;
        assert!(!page.contains(PHOTO), "{page}");
    })
    .await;
}

/// RFC 6749 §10.12: a consent form counts only with the CSRF cookie of the page it came from.
/// A second tab's login replaces the cookie, so the first tab's form is refused; a form whose
/// cookie was cleared is refused too. Neither reaches the client.
#[tokio::test(flavor = "multi_thread")]
async fn rfc6749_section_10_12_a_form_from_another_tab_or_without_its_cookie_is_refused() {
    let example = example(|_, _| {}).await;
    with_browser(move |browser| async move {
        let consent = format!("{}/authorize", example.issuer);
        open_login(&browser, &example).await;
        let first = browser.window().await.unwrap();
        let second = browser.new_window(true).await.unwrap().handle;
        browser.switch_to_window(second.clone()).await.unwrap();
        open_login(&browser, &example).await;

        browser.switch_to_window(first).await.unwrap();
        sign_in(&browser, "alice", "wonderland", "Approve").await;
        wait_for_text(&browser, "CSRF check failed").await;
        let url = browser.current_url().await.unwrap().to_string();
        assert!(url.starts_with(&consent), "{url}");

        // The tab whose page set the cookie still works.
        browser.switch_to_window(second).await.unwrap();
        sign_in(&browser, "alice", "wonderland", "Approve").await;
        wait_for_text(&browser, PHOTO).await;

        // A fresh consent page whose cookie is gone by the time the form is sent.
        open_login(&browser, &example).await;
        browser.delete_cookie("oauth_dev_csrf").await.unwrap();
        sign_in(&browser, "alice", "wonderland", "Approve").await;
        wait_for_text(&browser, "CSRF check failed").await;
        let url = browser.current_url().await.unwrap().to_string();
        assert!(url.starts_with(&consent), "{url}");
    })
    .await;
}

/// RFC 6749 §4.2.2: for a client that enables the implicit grant, the token arrives in the
/// fragment, which never reaches a server; the client's page reads it, takes it out of the
/// address bar, and calls the API with it.
#[tokio::test(flavor = "multi_thread")]
async fn rfc6749_section_4_2_2_the_implicit_grant_token_is_read_from_the_fragment() {
    let example = example(|config, api| {
        config.clients.push(
            DevClient::public("demo-implicit", [format!("{api}/callback")])
                .with_grants([Grant::Implicit]),
        );
    })
    .await;
    with_browser(move |browser| async move {
        let authorize = format!(
            "{}/authorize?response_type=token&client_id=demo-implicit&scope=photos%3Aread&state=s1",
            example.issuer
        );
        browser.goto(&authorize).await.unwrap();
        sign_in(&browser, "alice", "wonderland", "Approve").await;
        let callback = format!("{}/callback", example.api);
        let page = wait_for_text(&browser, PHOTO).await;
        assert!(page.contains("Granted scopes: photos:read"), "{page}");
        assert!(page.contains("GET /photos answered 200"), "{page}");
        let url = wait_for_url(&browser, "the callback", |url| url.starts_with(&callback)).await;
        assert_eq!(url, callback, "the token is no longer in the address bar");
    })
    .await;
}

/// RFC 6749 §10.13 (clickjacking): another site's frame gets no consent page. The control
/// frame, a page without such headers, loads, so a blank result is not a slow load.
#[tokio::test(flavor = "multi_thread")]
async fn rfc6749_section_10_13_the_consent_page_is_not_shown_in_a_frame() {
    let example = example(|_, _| {}).await;
    let consent = format!(
        "{}/authorize?response_type=code&client_id=demo-client&scope=photos%3Aread",
        example.issuer
    );
    let control = format!("{}/", example.api);
    let framing = serve(axum::Router::new().route(
        "/",
        axum::routing::get(move || async move {
            axum::response::Html(format!(
                "<!DOCTYPE html><html lang=\"en\"><title>frames</title>\
                 <iframe src=\"{control}\"></iframe><iframe src=\"{consent}\"></iframe></html>"
            ))
        }),
    ))
    .await;
    with_browser(move |browser| async move {
        browser.goto(&framing).await.unwrap();
        browser.enter_frame(0).await.unwrap();
        wait_for_text(&browser, "Log in").await;
        browser.enter_parent_frame().await.unwrap();
        browser.enter_frame(1).await.unwrap();
        // The refused frame holds Chromium's error document; wait until something is there.
        let deadline = Instant::now() + STEP;
        let url = loop {
            let url = browser
                .execute(
                    "return document.readyState === 'complete' ? document.URL : ''",
                    vec![],
                )
                .await
                .unwrap();
            let url = url.as_str().unwrap_or_default().to_owned();
            if !url.is_empty() && url != "about:blank" {
                break url;
            }
            assert!(Instant::now() < deadline, "the second frame never loaded");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let password = browser
            .find_all(Locator::Css("input[type=password]"))
            .await
            .unwrap();
        assert!(
            password.is_empty(),
            "the consent form is shown in a frame ({url})"
        );
        assert!(!url.starts_with(&example.issuer), "{url}");
    })
    .await;
}

/// The consent page on a phone: 375 px wide without sideways scrolling, a language, labelled
/// fields, and the scopes with their descriptions. With `OAUTH_UPDATE_SCREENSHOT=1` it is
/// also saved for the README.
#[tokio::test(flavor = "multi_thread")]
async fn the_consent_page_is_usable_375_px_wide() {
    let example = example(|_, _| {}).await;
    with_screen(Screen::Phone, move |browser| async move {
        open_login(&browser, &example).await;
        let facts = browser
            .execute(
                "return {\
                   width: window.innerWidth,\
                   scroll: document.scrollingElement.scrollWidth,\
                   lang: document.documentElement.lang,\
                   unlabelled: [...document.querySelectorAll('input:not([type=hidden])')]\
                     .filter(i => i.labels.length === 0).map(i => i.name),\
                   scopes: [...document.querySelectorAll('li')].map(li => li.textContent),\
                 }",
                vec![],
            )
            .await
            .unwrap();
        let width = facts["width"].as_u64().unwrap();
        assert!(
            width <= 375,
            "the page is laid out {width} px wide on a 375-px phone (no viewport meta?)"
        );
        let scroll = facts["scroll"].as_u64().unwrap();
        assert!(
            scroll <= 375,
            "the page is {scroll} px wide at 375: it scrolls sideways"
        );
        assert_eq!(facts["lang"], "en");
        assert_eq!(facts["unlabelled"], json!([]), "inputs without a label");
        assert_eq!(
            facts["scopes"],
            json!([
                "albums:read: See your albums",
                "photos:read: See your photos"
            ])
        );
        if std::env::var("OAUTH_UPDATE_SCREENSHOT").as_deref() == Ok("1") {
            labelled(&browser, "Username")
                .await
                .send_keys("alice")
                .await
                .unwrap();
            let png = browser.screenshot().await.unwrap();
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/consent.png");
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, png).unwrap();
            eprintln!("wrote {}", path.display());
        }
    })
    .await;
}

// The header bytes, over plain HTTP: fast, and they hold for every browser, not only the one
// the tests above drive.

/// The CSP sources a consent page must carry, in order, given the style element's text.
fn expected_csp(page: &str, form_action: &str) -> String {
    let style = page
        .split("<style>")
        .nth(1)
        .and_then(|rest| rest.split("</style>").next())
        .expect("the page's style element");
    let hash = STANDARD.encode(digest::digest(&digest::SHA256, style.as_bytes()));
    format!(
        "default-src 'none'; style-src 'sha256-{hash}'; form-action {form_action}; \
         frame-ancestors 'none'; base-uri 'none'"
    )
}

fn assert_page_headers(response: &reqwest::Response) {
    let headers = response.headers();
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert_eq!(headers["x-content-type-options"], "nosniff");
}

/// The consent page runs no script at all (no `script-src`, so `default-src 'none'` holds), its
/// form may go only to the server and to the validated redirect URI's origin, it may not be
/// framed (RFC 6749 §10.13), and its URL (with the `state`) goes into no `Referer`. The page
/// shown again after a wrong password carries the same.
#[tokio::test]
async fn rfc6749_section_10_13_the_consent_page_headers() {
    let example = example(|_, _| {}).await;
    let url = format!(
        "{}/authorize?response_type=code&client_id=demo-client&scope=photos%3Aread&state=s",
        example.issuer
    );
    let response = browser().get(&url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_page_headers(&response);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let page = response.text().await.unwrap();
    assert_eq!(csp, expected_csp(&page, &format!("'self' {}", example.api)));
    assert!(!page.contains("<script"), "{page}");
    assert!(
        page.contains("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"),
        "{page}"
    );
    assert!(page.contains("<html lang=\"en\">"), "{page}");

    let csrf = page
        .split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap();
    let fields = [
        ("csrf_token", csrf),
        ("username", "alice"),
        ("password", "wrong"),
        ("decision", "approve"),
    ];
    let again = submit_consent(&example.issuer, Some(&cookie), &fields).await;
    assert_eq!(again.status(), 401);
    assert_page_headers(&again);
    let csp = again.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    let page = again.text().await.unwrap();
    assert_eq!(csp, expected_csp(&page, &format!("'self' {}", example.api)));
}

/// Error pages hold no form: their CSP allows no form target at all.
#[tokio::test]
async fn rfc6749_section_10_13_error_pages_carry_the_same_headers() {
    let example = example(|_, _| {}).await;
    let response = browser()
        .get(format!("{}/authorize?client_id=nobody", example.issuer))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_page_headers(&response);
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    let page = response.text().await.unwrap();
    assert_eq!(csp, expected_csp(&page, "'none'"));
}

/// The example's pages fit a phone, and the callback's URL (it holds the code) goes into no
/// `Referer` of a link followed from it.
#[tokio::test]
async fn the_example_pages_declare_viewport_and_no_referrer() {
    let example = example(|_, _| {}).await;
    let home = browser()
        .get(format!("{}/", example.api))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for meta in [
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
        "<meta name=\"referrer\" content=\"no-referrer\">",
        "<html lang=\"en\">",
    ] {
        assert!(home.contains(meta), "{meta} in {home}");
    }
}
