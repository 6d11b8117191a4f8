//! The served OpenAPI document: what generated clients rely on (paging the audit log, unique
//! operation ids, every status and the shared headers), this server's limits, and every
//! documented route really served. (openapi-spec-validator and schemathesis check it further in
//! the `contract` tests.)

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::Value;

use crate::support::TestServer;

async fn document(server: &TestServer) -> Value {
    reqwest::get(server.url("/api/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Every (path, method, operation) of the document.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            out.push((path.clone(), method.clone(), op.clone()));
        }
    }
    out
}

#[tokio::test]
async fn the_audit_log_is_paged_with_optional_query_parameters() {
    let server = TestServer::start().await;
    let doc = document(&server).await;
    let params = doc["paths"]["/api/v1/audit"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let names: BTreeSet<&str> = params.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, BTreeSet::from(["action", "before", "limit"]));
    for param in params {
        assert_eq!(param["in"], "query", "{param}");
        assert_ne!(param["required"], true, "{param}");
    }
    let limit = params.iter().find(|p| p["name"] == "limit").unwrap();
    assert_eq!(
        (&limit["schema"]["minimum"], &limit["schema"]["maximum"]),
        (&1.into(), &200.into())
    );
}

#[tokio::test]
async fn every_operation_has_a_unique_id_its_statuses_and_the_shared_headers() {
    let server = TestServer::start().await;
    let doc = document(&server).await;
    let mut ids = BTreeSet::new();
    for (path, method, op) in operations(&doc) {
        let id = op["operationId"].as_str().unwrap().to_string();
        assert!(ids.insert(id.clone()), "operationId {id} is used twice");
        let responses = op["responses"].as_object().unwrap();
        let has = |status: &str| responses.contains_key(status);
        if path.starts_with("/api/v1/") {
            assert!(has("401") && has("429"), "{method} {path}: {responses:?}");
            let ok = responses.keys().find(|s| s.starts_with('2')).unwrap();
            assert!(
                responses[ok]["headers"]
                    .get("RateLimit-Remaining")
                    .is_some(),
                "{method} {path}"
            );
        }
        if op.get("requestBody").is_some() {
            assert!(has("400") && has("413"), "{method} {path}: {responses:?}");
        }
        for (status, response) in responses {
            assert_eq!(
                response["headers"]["x-request-id"]["required"], true,
                "{method} {path} {status}"
            );
            if status == "429" {
                // Only a sessions or storage quota answers without it, and says so.
                let untimed = response["description"]
                    .as_str()
                    .unwrap()
                    .contains("without `Retry-After`");
                assert_eq!(
                    response["headers"]["Retry-After"]["required"], !untimed,
                    "{method} {path}"
                );
            }
        }
    }
    assert!(
        ids.contains("execute") && ids.contains("zk_execute"),
        "{ids:?}"
    );
    let keys = &doc["paths"]["/api/v1/keys"]["post"]["responses"];
    assert!(keys["409"]["description"]
        .as_str()
        .unwrap()
        .contains("too_many_keys"));
    let packages = &doc["paths"]["/api/v1/packages"]["put"]["responses"];
    assert!(packages["422"]["description"]
        .as_str()
        .unwrap()
        .contains("package_install_failed"));
    for path in ["/api/refresh", "/api/verify"] {
        assert!(
            doc["paths"][path]["post"]["responses"].get("400").is_some(),
            "{path}"
        );
    }
}

#[tokio::test]
async fn request_fields_carry_this_servers_limits_and_the_parsers_rules() {
    let server = TestServer::start_with(|s| {
        s.max_timeout_ms = 30_000;
        s.max_memory_mb = 1024;
        s.max_code_bytes = 4096;
    })
    .await;
    let doc = document(&server).await;
    let run = &doc["components"]["schemas"]["ExecuteRequest"]["properties"];
    assert_eq!(run["timeoutMs"]["maximum"], 30_000);
    assert_eq!(run["memoryMb"]["minimum"], 16);
    assert_eq!(run["memoryMb"]["maximum"], 1024);
    assert_eq!(run["code"]["maxLength"], 4096);
    assert_eq!(run["network"]["enum"], serde_json::json!([false, null]));
    let names = run["env"]["propertyNames"]["pattern"].as_str().unwrap();
    assert!(names.contains("LD_") && names.contains("PATH"), "{names}");
    let language = &doc["components"]["schemas"]["LanguageName"]["enum"];
    assert!(
        language.as_array().unwrap().contains(&"nodejs".into()),
        "{language}"
    );
    let email = &doc["components"]["schemas"]["AuthRequest"]["properties"]["email"];
    assert!(
        email["pattern"].is_string() && email["maxLength"] == 254,
        "{email}"
    );
}

#[tokio::test]
async fn every_documented_route_is_served() {
    let server = TestServer::start().await;
    let doc = document(&server).await;
    let http = reqwest::Client::new();
    for (path, method, _) in operations(&doc) {
        let concrete = path.replace("{name}", "x").replace("{id}", "x");
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let response = http
            .request(method.clone(), server.url(&concrete))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert_ne!(status, 405, "{method} {path} is documented but not served");
        assert!(
            !(status == 404 && body["error"] == "route not found"),
            "{method} {path} is documented but not served"
        );
    }
}
