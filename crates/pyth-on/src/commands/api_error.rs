//! An error the server answered, in one line with the field-level details it gave.

use pyth_on_client::ClientError;

/// The error with the field-level details the server gave that its message does not say.
pub fn with_details(err: &ClientError) -> String {
    let ClientError::Api { body, .. } = err else {
        return with_causes(err);
    };
    let extra: Vec<String> = match &body.details {
        Some(serde_json::Value::Object(fields)) => fields
            .iter()
            .map(|(field, v)| {
                (
                    field,
                    v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                )
            })
            .filter(|(_, text)| !body.error.contains(text.as_str()))
            .map(|(field, text)| format!("{field}: {text}"))
            .collect(),
        Some(other) => vec![other.to_string()],
        None => Vec::new(),
    };
    if extra.is_empty() {
        err.to_string()
    } else {
        format!("{err}; {}", extra.join("; "))
    }
}

/// `err` and what caused it (`error sending request ...: tcp connect error: Connection
/// refused`): a transport error's own message rarely says what went wrong.
fn with_causes(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(inner) = cause {
        let said = inner.to_string();
        if !text.contains(&said) {
            text = format!("{text}: {said}");
        }
        cause = inner.source();
    }
    text
}
