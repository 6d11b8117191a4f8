//! The served document against openapi-spec-validator (the OpenAPI Initiative's schemas plus
//! its semantic checks: unresolved path parameters, duplicate operation ids, ...).

use std::time::Duration;

use crate::support::TestServer;
use crate::tools;

#[tokio::test]
async fn the_served_openapi_document_passes_openapi_spec_validator() {
    let validator = tools::require("openapi-spec-validator");
    let server = TestServer::start().await;
    let document = reqwest::get(server.url("/api/openapi.json"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let file = server.dir.path().join("openapi.json");
    std::fs::write(&file, &document).unwrap();
    let args = vec![
        "--validation-errors".to_string(),
        "all".to_string(),
        file.display().to_string(),
    ];
    let output = tools::run(
        &validator,
        &args,
        server.dir.path(),
        Duration::from_secs(120),
    )
    .await;
    let transcript = tools::transcript(&output);
    assert!(
        output.status.success(),
        "openapi-spec-validator refused the document:\n{transcript}"
    );
    assert!(transcript.contains("OK"), "{transcript}");
}
