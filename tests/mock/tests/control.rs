//! Control endpoints, CORS, static files and the handle's API.

mod common;

use std::time::Duration;

use common::{client, get_json, header, serve};
use headway_mock::{HeaderStyle, MockConfig, MockServer, Route, ServerOptions, Stats};

#[tokio::test]
async fn cors_preflight_and_exposed_headers() {
    let server = serve(MockConfig::new().route(
        "/",
        Route::gcra(1, Duration::from_secs(60), 1).headers(HeaderStyle::Ietf08),
    ))
    .await;
    let client = client();
    let r = client
        .request(reqwest::Method::OPTIONS, server.url_for("/api"))
        .header("origin", "http://example.test")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type, x-trace")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 204);
    assert_eq!(header(&r, "access-control-allow-origin"), "*");
    assert!(header(&r, "access-control-allow-methods").contains("POST"));
    assert_eq!(
        header(&r, "access-control-allow-headers"),
        "content-type, x-trace"
    );
    assert!(!header(&r, "date").is_empty());
    // Preflights are not requests to the API.
    assert_eq!(server.stats().total.requests, 0);

    for _ in 0..2 {
        let r = client
            .get(server.url_for("/api"))
            .send()
            .await
            .expect("send");
        assert_eq!(header(&r, "access-control-allow-origin"), "*");
        let exposed = header(&r, "access-control-expose-headers");
        for name in [
            "Retry-After",
            "Date",
            "RateLimit",
            "RateLimit-Policy",
            "RateLimit-Limit",
            "RateLimit-Remaining",
            "RateLimit-Reset",
            "X-RateLimit-Limit",
            "X-RateLimit-Remaining",
            "X-RateLimit-Reset",
            "X-RateLimit-Reset-After",
        ] {
            assert!(
                exposed.split(", ").any(|n| n == name),
                "{name} not in {exposed}"
            );
        }
    }
}

#[tokio::test]
async fn stats_endpoint_matches_the_handle() {
    let server = serve(
        MockConfig::new()
            .route("/a", Route::gcra(2, Duration::from_secs(60), 2))
            .route("/b", Route::unlimited()),
    )
    .await;
    let client = client();
    for path in ["/a", "/a/x", "/a", "/b", "/c", "/__stats", "/__stats"] {
        client.get(server.url_for(path)).send().await.expect("send");
    }
    let over_http: Stats = get_json(&client, server.url_for("/__stats")).await;
    assert_eq!(over_http.routes, server.stats().routes);
    let a = over_http.route("/a");
    assert_eq!((a.requests, a.admitted, a.rejected), (3, 2, 1));
    assert_eq!(over_http.route("/b").admitted, 1);
    assert_eq!(over_http.route("default").admitted, 1);
    assert_eq!(over_http.total.requests, 5);
    assert_eq!(over_http.total.admitted, 4);

    let raw: serde_json::Value = get_json(&client, server.url_for("/__stats")).await;
    assert_eq!(raw["routes"]["/a"]["rejected"], 1);
    assert!(raw["total"]["first_admitted_ms"].is_number());

    let r = client
        .post(server.url_for("/__reset"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    assert_eq!(server.stats().total.requests, 0);
    // State is cleared too: /a admits again.
    let r = client.get(server.url_for("/a")).send().await.expect("send");
    assert_eq!(r.status(), 200);
    // Wrong methods and unknown control paths.
    let r = client
        .get(server.url_for("/__reset"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 405);
    let r = client
        .get(server.url_for("/__nope"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn config_endpoint_replaces_and_resets() {
    let server = serve(MockConfig::new()).await;
    let client = client();
    let url = server.url_for("/anything");
    client.get(&url).send().await.expect("send");
    assert_eq!(server.stats().total.admitted, 1);

    let r = client
        .post(server.url_for("/__config"))
        .body("{ not json")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 400);
    let err: serde_json::Value = r.json().await.expect("json");
    assert!(err["error"]
        .as_str()
        .unwrap_or("")
        .contains("invalid mock config"));
    let r = client
        .post(server.url_for("/__config"))
        .body(r#"{"default": {"policy": {"gcra": {"limit": 0, "period_ms": 1000}}}}"#)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 400);
    // A rejected config changes nothing.
    assert_eq!(server.stats().total.admitted, 1);

    let config = r#"{
        "routes": {"/": {"policy": {"gcra": {"limit": 1, "period_ms": 60000}},
                          "headers": "ietf07"}}
    }"#;
    let r = client
        .post(server.url_for("/__config"))
        .body(config)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    assert_eq!(server.stats().total.requests, 0);
    assert_eq!(client.get(&url).send().await.expect("send").status(), 200);
    let r = client.get(&url).send().await.expect("send");
    assert_eq!(r.status(), 429);
    assert_eq!(header(&r, "ratelimit-policy"), "1;w=60");
    let current: MockConfig = get_json(&client, server.url_for("/__config")).await;
    assert_eq!(current, server.config());
    assert_eq!(current, MockConfig::from_json(config).expect("valid"));

    // The handle can do the same.
    server
        .set_config(MockConfig::new().route("/", Route::unlimited()))
        .expect("valid");
    assert_eq!(client.get(&url).send().await.expect("send").status(), 200);
    assert!(server
        .set_config(MockConfig::new().route("nope", Route::unlimited()))
        .is_err());
    server.reset();
    assert_eq!(server.stats().total.requests, 0);
}

#[tokio::test]
async fn admitted_responses_count_per_route_for_any_method() {
    let server = serve(MockConfig::new()).await;
    let client = client();
    for (i, method) in ["GET", "POST", "PUT", "DELETE", "PATCH"].iter().enumerate() {
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let r = client
            .request(m, server.url_for("/items/7?q=1"))
            .body("x")
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "content-type"), "application/json");
        let body: serde_json::Value = r.json().await.expect("json");
        assert_eq!(
            body,
            serde_json::json!({"path": "/items/7", "n": i as u64 + 1})
        );
    }
}

#[tokio::test]
async fn static_files_with_content_types() {
    let dir = std::env::temp_dir().join(format!("headway-mock-static-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("pkg")).expect("mkdir");
    std::fs::write(dir.join("index.html"), "<!doctype html>").expect("write");
    std::fs::write(dir.join("pkg/app.mjs"), "export {}").expect("write");
    std::fs::write(dir.join("pkg/app.js"), "export {}").expect("write");
    std::fs::write(dir.join("pkg/core_bg.wasm"), b"\0asm").expect("write");
    std::fs::write(dir.join("pkg/package.json"), "{}").expect("write");
    std::fs::write(dir.join("pkg/style.css"), "body{}").expect("write");

    let server = MockServer::start_with(
        // Even a strict catch-all route never limits static files.
        MockConfig::new().route("/", Route::gcra(1, Duration::from_secs(3600), 1)),
        ServerOptions::new().static_dir(&dir),
    )
    .await
    .expect("start");
    let client = client();
    let cases = [
        ("/static/", "text/html; charset=utf-8", "<!doctype html>"),
        (
            "/static/index.html",
            "text/html; charset=utf-8",
            "<!doctype html>",
        ),
        ("/static/pkg/app.mjs", "text/javascript", "export {}"),
        ("/static/pkg/app.js", "text/javascript", "export {}"),
        ("/static/pkg/core_bg.wasm", "application/wasm", "\0asm"),
        ("/static/pkg/package.json", "application/json", "{}"),
        ("/static/pkg/style.css", "text/css; charset=utf-8", "body{}"),
    ];
    for _ in 0..2 {
        for (path, ctype, body) in cases {
            let r = client.get(server.url_for(path)).send().await.expect("send");
            assert_eq!(r.status(), 200, "{path}");
            assert_eq!(header(&r, "content-type"), ctype, "{path}");
            assert_eq!(header(&r, "access-control-allow-origin"), "*");
            assert_eq!(r.text().await.expect("body"), body, "{path}");
        }
    }
    let r = client
        .get(server.url_for("/static/missing.js"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 404);
    assert_eq!(server.stats().total.requests, 0);
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn shutdown_and_drop_stop_the_listener() {
    let server = serve(MockConfig::new()).await;
    let url = server.url_for("/x");
    assert_eq!(client().get(&url).send().await.expect("send").status(), 200);
    server.shutdown().await;
    assert!(client().get(&url).send().await.is_err());

    let server = serve(MockConfig::new()).await;
    let url = server.url_for("/x");
    drop(server);
    tokio::task::yield_now().await;
    assert!(client().get(&url).send().await.is_err());
}
