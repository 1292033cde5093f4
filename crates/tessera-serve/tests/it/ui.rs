//! The web UI (src/ui): its HTTP behaviour with a plain client (sign-in, cookies,
//! redirects, refusals, the 404 pages), and the marketplace end to end in headless
//! Chromium (tests/clients/ui.py, driven with selenium).

use std::path::{Path, PathBuf};

use reqwest::redirect::Policy;

use crate::support::{clients_dir, python, server};

pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

/// The session cookie a sign-in sets, as `name=value`.
pub(crate) async fn sign_in(base: &str, token: &str) -> (reqwest::StatusCode, Option<String>) {
    let r = client()
        .post(format!("{base}/signin"))
        .form(&[("token", token), ("next", "/search")])
        .send()
        .await
        .unwrap();
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("tessera_token="));
    (r.status(), cookie)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ui_signs_in_with_an_api_token_and_refuses_what_the_api_refuses() {
    let s = server("").await;
    let base = s.http_url("");
    let c = client();

    // Without a session: every page redirects to sign-in, remembering where it was going.
    let r = c
        .get(format!("{base}/products/shop/customers?x=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers()["location"],
        "/signin?next=/products/shop/customers%3Fx%3D1"
    );

    // A bad token: the form again, with why, and no cookie.
    let (status, cookie) = sign_in(&base, "tsr_nothing").await;
    assert_eq!((status.as_u16(), cookie), (401, None));

    // A good one: a redirect to `next` and an HttpOnly, SameSite=Strict cookie.
    let (status, cookie) = sign_in(&base, s.token("ana")).await;
    assert_eq!(status.as_u16(), 303);
    let cookie = cookie.unwrap();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    let session = cookie.split(';').next().unwrap().to_string();
    let get = |path: &str| {
        c.get(format!("{base}{path}"))
            .header("cookie", format!("{session}; tessera_purpose=analytics"))
            .send()
    };
    let home = get("/").await.unwrap();
    assert_eq!(home.status(), 200);
    let html = home.text().await.unwrap();
    assert!(html.contains("Data products") && html.contains("shop/customers"));

    // The sample is governed: ana (staff, analytics) sees pii masked.
    let product = get("/products/shop/customers")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(product.contains("masked: hash"), "the pii column is masked");

    // A principal with no role is refused the sample, with the policy's reason.
    let (_, nobody) = sign_in(&base, s.token("nobody")).await;
    let nobody = nobody.unwrap().split(';').next().unwrap().to_string();
    let refused = c
        .get(format!("{base}/products/shop/customers"))
        .header("cookie", format!("{nobody}; tessera_purpose=analytics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(refused.contains("Refused by policy"), "{refused}");

    // The audit page: 403 for ana, as the API answers her.
    let audit = get("/audit").await.unwrap();
    assert_eq!(audit.status(), 403);
    assert!(
        audit
            .text()
            .await
            .unwrap()
            .contains("may not read the audit log")
    );

    // Unknown pages: an HTML 404 page; unknown API paths keep the API's JSON 404.
    let missing = get("/no/such/page").await.unwrap();
    assert_eq!(missing.status(), 404);
    assert!(missing.text().await.unwrap().contains("<!DOCTYPE html>"));
    let api = c
        .get(format!("{base}/api/v1/nothing-here"))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 404);
    let body: serde_json::Value = api.json().await.unwrap();
    assert_eq!(body["error"]["kind"], "not_found");
    let unknown = get("/products/shop/custmers").await.unwrap();
    assert_eq!(unknown.status(), 404);
    assert!(unknown.text().await.unwrap().contains("did you mean"));

    // A form posted from another site is refused.
    let r = c
        .post(format!("{base}/signout"))
        .header("origin", "http://evil.example")
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // A revoked token ends the session: back to sign-in, saying why.
    let engine = s.running.shared.engine();
    let id = engine
        .catalog
        .tokens(Some("ana"))
        .await
        .unwrap()
        .remove(0)
        .id;
    engine
        .catalog
        .revoke_token(&id, chrono::Utc::now())
        .await
        .unwrap();
    s.running.shared.auth.forget();
    let r = get("/").await.unwrap();
    assert_eq!(r.status(), 303);
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .contains("expired=1")
    );
}

/// Where screenshots go: $TESSERA_UI_SCREENSHOTS, else ui-screenshots in the target folder.
fn screenshots() -> PathBuf {
    if let Some(dir) = std::env::var_os("TESSERA_UI_SCREENSHOTS") {
        return PathBuf::from(dir);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("ui-screenshots")
}

/// Whether Debian's chromium and chromium-driver are installed (`.ci/run` installs them).
/// Without them the test is skipped on a developer's machine, saying why, and fails in CI.
fn have_chromium() -> bool {
    let found =
        Path::new("/usr/bin/chromium").exists() && Path::new("/usr/bin/chromedriver").exists();
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but /usr/bin/chromium or /usr/bin/chromedriver is missing: .ci/run installs them"
        );
        println!(
            "SKIPPED: /usr/bin/chromium and /usr/bin/chromedriver are needed (apt-get install chromium chromium-driver)"
        );
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_marketplace_in_a_real_browser() {
    if !have_chromium() {
        return;
    }
    let s = server("").await;
    let shots = screenshots();
    std::fs::create_dir_all(&shots).unwrap();
    let out = tokio::process::Command::new(python())
        .arg(clients_dir().join("ui.py"))
        .env("UI_BASE", s.http_url(""))
        .env("UI_TOKENS", serde_json::to_string(&s.tokens).unwrap())
        .env("UI_SCREENSHOTS", &shots)
        .output()
        .await
        .expect("the test python runs (scripts/test installs selenium into its venv)");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{report}\nscreenshots: {}", shots.display());
    assert!(
        out.status.success(),
        "the browser test failed (screenshots in {}):\n{report}",
        shots.display()
    );
}
