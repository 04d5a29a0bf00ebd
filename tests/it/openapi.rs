//! The OpenAPI document matches what the service answers. Every API answer the test helpers
//! see is checked against it (`common::openapi`); here, every operation is called as each kind
//! of principal, and with each method it lacks, and the document itself is checked for
//! optional response fields that could come back `null` undeclared.

use crate::common;

use common::openapi::{document, validate};
use common::{checked_parts, TestApp};
use serde_json::{json, Value};

/// The rule (ARCHITECTURE.md, "Invariant: the OpenAPI document describes every answer"):
/// an optional field of a response is `nullable`, whether it is written as `null` or left out.
#[test]
fn optional_response_fields_are_nullable() {
    let doc = document();
    let schemas = &doc["components"]["schemas"];
    let mut pending: Vec<(&str, &Value)> = Vec::new();
    for operations in doc["paths"].as_object().unwrap().values() {
        for op in operations.as_object().unwrap().values() {
            for response in op["responses"].as_object().unwrap().values() {
                for media in response["content"]
                    .as_object()
                    .into_iter()
                    .flat_map(|c| c.values())
                {
                    pending.push(("response", &media["schema"]));
                }
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    let mut offenders = Vec::new();
    while let Some((owner, schema)) = pending.pop() {
        if let Some(r) = schema["$ref"].as_str() {
            let name = r.rsplit('/').next().unwrap();
            if seen.insert(name) {
                pending.push((name, &schemas[name]));
            }
            continue;
        }
        for key in ["allOf", "oneOf", "anyOf"] {
            pending.extend(
                schema[key]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|s| (owner, s)),
            );
        }
        if let Some(items) = schema.get("items") {
            pending.push((owner, items));
        }
        let required: Vec<&Value> = schema["required"]
            .as_array()
            .into_iter()
            .flatten()
            .collect();
        for (name, property) in schema["properties"].as_object().into_iter().flatten() {
            if !required.contains(&&json!(name)) && property["nullable"] != json!(true) {
                offenders.push(format!(
                    "{}.{name}",
                    schema["title"].as_str().unwrap_or("?")
                ));
            }
            pending.push((owner, property));
        }
    }
    assert!(
        offenders.is_empty(),
        "optional, not nullable: {offenders:?}"
    );
}

/// Every operation, called as nobody, as an administrator, as an integration API key with
/// every scope and as each other role, on made-up ids and with an empty JSON body, answers a
/// status, media type and body the document lists; every method a path lacks answers 405
/// with `Allow` naming the ones it has.
#[tokio::test]
async fn every_operation_answers_as_the_document_says() {
    let mut app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (status, key) = app
        .post(
            "/api/v1/api-keys",
            Some(&admin),
            json!({"name": "all scopes", "scopes": ["enrol", "lifecycle", "reports"]}),
        )
        .await;
    assert_eq!(status, 201, "{key}");
    let mut tokens = vec![
        Some(admin.clone()),
        Some(key["key"].as_str().unwrap().to_string()),
        None,
    ];
    for (name, role) in [
        ("o.op", "operator"),
        ("o.ra", "ra_officer"),
        ("o.au", "auditor"),
    ] {
        let mut who = app.create_operator(&admin, name, role).await;
        tokens.push(Some(app.session(&mut who).await));
    }

    let mut calls = 0;
    for (path, operations) in document()["paths"].as_object().unwrap() {
        let url = app.url(&format!("/api{}", path.replace(['{', '}'], "")));
        for method in operations.as_object().unwrap().keys() {
            // Signing out would end the session the next calls use.
            if (method.as_str(), path.as_str()) == ("delete", "/v1/operator/session") {
                continue;
            }
            for token in &tokens {
                let mut req = app
                    .http
                    .request(method.to_uppercase().parse().unwrap(), &url);
                if method != "get" && method != "delete" {
                    req = req.json(&json!({}));
                }
                if let Some(t) = token {
                    req = req.bearer_auth(t);
                }
                checked_parts(method, req.send().await.unwrap()).await;
                calls += 1;
            }
        }
        for method in ["GET", "POST", "PUT", "DELETE", "PATCH"] {
            if operations.get(method.to_lowercase()).is_none() {
                let req = app
                    .http
                    .request(method.parse().unwrap(), &url)
                    .bearer_auth(&admin);
                let (status, _) = checked_parts(method, req.send().await.unwrap()).await;
                assert_eq!(status, 405, "{method} {path}");
            }
        }
    }
    assert!(calls > 100, "{calls}");

    // Answers with optional fields unset: the first page of a short audit trail, an intact
    // chain, an empty queue, an API key's identity (no role).
    for (path, token) in [
        ("/api/v1/audit/events", &tokens[0]),
        ("/api/v1/audit/verify", &tokens[0]),
        ("/api/v1/verification/stats", &tokens[0]),
        ("/api/v1/whoami", &tokens[1]),
        ("/api/v1/reports/issuance", &tokens[1]),
    ] {
        let (status, body) = app.get(path, token.as_deref()).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
}

/// The checker itself: `null` needs `nullable`, undocumented properties and wrong types fail.
#[test]
fn the_document_checker_refuses_what_the_document_does_not_allow() {
    let schema = json!({
        "type": "object",
        "required": ["a"],
        "properties": {
            "a": {"type": "integer"},
            "b": {"type": "string"},
            "c": {"type": "string", "nullable": true}
        }
    });
    let check = |value: Value| {
        let mut errors = Vec::new();
        validate(&schema, &value, "$", &mut errors);
        errors
    };
    assert!(check(json!({"a": 1, "c": null})).is_empty());
    assert!(check(json!({"a": 1, "b": "x"})).is_empty());
    assert_eq!(
        check(json!({"a": 1, "b": null})),
        ["$.b is null but not nullable"]
    );
    assert_eq!(check(json!({"b": "x"})), ["$.a is required but absent"]);
    assert_eq!(
        check(json!({"a": "1"})),
        ["$.a = \"1\" is not of type integer"]
    );
    assert_eq!(
        check(json!({"a": 1, "d": 1})),
        ["$.d is not a documented property"]
    );
}

/// Outside the API too: pages (also as the HTML error page a browser gets), probes, OCSP.
#[tokio::test]
async fn every_405_carries_allow() {
    let app = TestApp::spawn().await;
    for (method, path, accept, allow) in [
        ("PUT", "/sign-in", "application/json", "GET, POST, HEAD"),
        ("PUT", "/sign-in", "text/html", "GET, POST, HEAD"),
        ("POST", "/healthz", "*/*", "GET, HEAD"),
        ("GET", "/ocsp", "*/*", "POST"),
        ("POST", "/api/openapi.json", "*/*", "GET, HEAD"),
    ] {
        let resp = app
            .http
            .request(method.parse().unwrap(), app.url(path))
            .header("accept", accept)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 405, "{method} {path}");
        assert_eq!(resp.headers()["allow"], allow, "{method} {path} ({accept})");
    }
}
