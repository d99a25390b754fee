//! `/api/openapi.json`: the document lists every route the server answers, with the methods,
//! the roles' ways in and the JSON shapes, and nothing it does not answer.

use guardian::bounty::tokens::Role;
use reqwest::{Method, StatusCode};

use super::{Room, http};

#[tokio::test]
async fn the_openapi_document_lists_each_route_the_server_answers_and_only_those() {
    let room = Room::start().await;
    let r = http()
        .get(format!("{}/api/openapi.json", room.base))
        .send()
        .await
        .expect("openapi");
    assert_eq!(r.status(), StatusCode::OK);
    let doc: serde_json::Value = r.json().await.expect("JSON");
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    let paths = doc["paths"].as_object().expect("paths");
    for wanted in [
        "/",
        "/signin",
        "/alerts/{id}",
        "/incidents/{id}/pause",
        "/incidents/{id}/rescue",
        "/api/overview",
        "/api/incidents/{id}",
        "/api/incidents/{id}/pause",
        "/api/events",
        "/api/bounty/reports/{id}/{decision}",
        "/bounty/reports",
        "/api/openapi.json",
    ] {
        assert!(
            paths.contains_key(wanted),
            "{wanted} is not in the document"
        );
    }
    // The JSON shapes come from the types the handlers answer.
    let overview = &paths["/api/overview"]["get"]["responses"]["200"]["content"]["application/json"]
        ["schema"]["$ref"];
    assert_eq!(overview, "#/components/schemas/Overview");
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    for name in [
        "Overview",
        "Room",
        "Alert",
        "Incident",
        "Entry",
        "PauseBody",
    ] {
        assert!(schemas.contains_key(name), "no schema {name}");
    }
    assert_eq!(
        schemas["PauseBody"]["required"],
        serde_json::json!(["scope", "reason"])
    );
    let pause = &paths["/api/incidents/{id}/pause"]["post"];
    assert!(pause["security"].to_string().contains("bearer"), "{pause}");
    assert!(doc["components"]["securitySchemes"]["session"].is_object());

    // Each documented route answers its method (a refusal counts; the router's own 404 or 405
    // would not). Nothing changes: the token is a viewer's and the forms carry no CSRF value.
    let token = room.token("vic", Role::Viewer);
    let mut asked = 0;
    for (path, methods) in paths {
        let concrete = path
            .replace("{id}", "1")
            .replace("{decision}", "acknowledge");
        for method in methods.as_object().expect("methods").keys() {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            let r = http()
                .request(method.clone(), format!("{}{concrete}", room.base))
                .bearer_auth(&token)
                .send()
                .await
                .expect("answer");
            let status = r.status();
            let stream = r
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
            let body = if stream {
                "(a stream)".to_string()
            } else {
                r.text().await.unwrap_or_default()
            };
            assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            assert!(
                !(status == StatusCode::NOT_FOUND && body.is_empty()),
                "{method} {path}: the server has no such route"
            );
            asked += 1;
        }
    }
    assert!(asked >= 35, "{asked} routes asked");
    // And a route the document does not list is the router's 404.
    let r = http()
        .get(format!("{}/api/nothing-here", room.base))
        .send()
        .await
        .expect("answer");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}
