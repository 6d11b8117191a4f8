//! The reference page's HTML, from the OpenAPI document as JSON: operations grouped by tag
//! (parameters, request body, responses, authentication), then every schema with its fields.
//! Every text from the document is escaped; `` `code` `` spans become `<code>`.

use std::fmt::Write;

use serde_json::{Map, Value};

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// The whole page.
pub fn page(doc: &Value) -> String {
    let title = doc["info"]["title"].as_str().unwrap_or("API");
    let version = doc["info"]["version"].as_str().unwrap_or("");
    let groups = groups(doc);
    let mut out = String::with_capacity(256 << 10);
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n<title>{t} reference</title>\n\
         <link rel=\"stylesheet\" href=\"/docs/reference.css\">\n</head>\n<body>\n\
         <a class=\"skip\" href=\"#main\">Skip to content</a>\n<header class=\"top\">\
         <a class=\"brand\" href=\"/\">Pyth-On</a>\n<nav aria-label=\"API sections\"><ul>",
        t = escape(title)
    );
    for (tag, _, _) in &groups {
        let _ = write!(
            out,
            "<li><a href=\"#{}\">{}</a></li>",
            anchor("tag", tag),
            escape(tag)
        );
    }
    let _ = write!(
        out,
        "<li><a href=\"#schemas\">Schemas</a></li></ul></nav></header>\n<main id=\"main\">\n\
         <h1>{t} reference <span class=\"version\">version {v}</span></h1>\n{d}\n\
         <p>The same content as an OpenAPI 3.1 document: <a href=\"/api/openapi.json\">\
         /api/openapi.json</a>. {auth}</p>\n",
        t = escape(title),
        v = escape(version),
        d = prose(doc["info"]["description"].as_str().unwrap_or("")),
        auth = authentication(doc),
    );
    for (tag, description, ops) in &groups {
        let _ = write!(
            out,
            "<section aria-labelledby=\"{id}\">\n<h2 id=\"{id}\">{t}</h2>\n{d}\n",
            id = anchor("tag", tag),
            t = escape(tag),
            d = prose(description),
        );
        for (method, path, op) in ops {
            out.push_str(&operation(method, path, op));
        }
        out.push_str("</section>\n");
    }
    out.push_str(&schemas(doc));
    out.push_str("</main>\n</body>\n</html>\n");
    out
}

type Operation<'a> = (&'a str, &'a str, &'a Value);

/// The document's tags in order, each with its description and operations; untagged
/// operations last, under "Other".
fn groups(doc: &Value) -> Vec<(String, String, Vec<Operation<'_>>)> {
    let mut groups: Vec<(String, String, Vec<Operation<'_>>)> = doc["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| {
            let name = t["name"].as_str()?.to_string();
            Some((
                name,
                t["description"].as_str().unwrap_or("").to_string(),
                Vec::new(),
            ))
        })
        .collect();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let tag = op["tags"][0].as_str().unwrap_or("Other");
            let at = match groups.iter().position(|(name, _, _)| name == tag) {
                Some(at) => at,
                None => {
                    groups.push((tag.to_string(), String::new(), Vec::new()));
                    groups.len() - 1
                }
            };
            groups[at].2.push((method, path.as_str(), op));
        }
    }
    groups.retain(|(_, _, ops)| !ops.is_empty());
    groups
}

/// How callers authenticate, from the security schemes.
fn authentication(doc: &Value) -> String {
    let schemes = doc["components"]["securitySchemes"].as_object();
    let mut ways = Vec::new();
    for (_, s) in schemes.into_iter().flatten() {
        match (s["type"].as_str(), s["name"].as_str()) {
            (Some("http"), _) => {
                ways.push("an access token (<code>Authorization: Bearer …</code>)".to_string())
            }
            (Some("apiKey"), Some(name)) => {
                ways.push(format!("an API key (<code>{}</code> header)", escape(name)))
            }
            _ => {}
        }
    }
    if ways.is_empty() {
        return String::new();
    }
    format!(
        "Routes marked <em>authenticated</em> take {}.",
        ways.join(" or ")
    )
}

fn operation(method: &str, path: &str, op: &Value) -> String {
    let id = anchor("op", op["operationId"].as_str().unwrap_or(path));
    let mut out = format!(
        "<article class=\"operation\" aria-labelledby=\"{id}\">\n<h3 id=\"{id}\">\
         <span class=\"method {m}\">{M}</span> <code>{p}</code></h3>\n",
        m = method,
        M = method.to_uppercase(),
        p = escape(path),
    );
    if let Some(summary) = op["summary"].as_str() {
        out.push_str(&prose(summary));
    }
    if let Some(description) = op["description"].as_str() {
        out.push_str(&prose(description));
    }
    if op["security"].as_array().is_some_and(|s| !s.is_empty()) {
        out.push_str("<p class=\"auth\">Authenticated.</p>\n");
    }
    out.push_str(&parameters(op));
    if let Some(body) = op.get("requestBody") {
        let required = if body["required"].as_bool() == Some(true) {
            "required"
        } else {
            "optional"
        };
        let _ = write!(
            out,
            "<h4>Request body ({required})</h4>\n{}",
            contents(&body["content"])
        );
    }
    out.push_str(&responses(op));
    out.push_str("</article>\n");
    out
}

fn parameters(op: &Value) -> String {
    let Some(params) = op["parameters"].as_array().filter(|p| !p.is_empty()) else {
        return String::new();
    };
    let rows: String = params
        .iter()
        .map(|p| {
            let required = if p["required"].as_bool() == Some(true) { "yes" } else { "no" };
            format!(
                "<tr><th scope=\"row\"><code>{}</code></th><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                escape(p["name"].as_str().unwrap_or("")),
                escape(p["in"].as_str().unwrap_or("")),
                type_of(&p["schema"]),
                required,
                prose_inline(p["description"].as_str().unwrap_or("")),
            )
        })
        .collect();
    format!(
        "<table>\n<caption>Parameters</caption>\n<thead><tr><th scope=\"col\">Name</th>\
         <th scope=\"col\">In</th><th scope=\"col\">Type</th><th scope=\"col\">Required</th>\
         <th scope=\"col\">Description</th></tr></thead>\n<tbody>\n{rows}</tbody>\n</table>\n"
    )
}

/// A body's media types and their schemas.
fn contents(content: &Value) -> String {
    let Some(types) = content.as_object().filter(|c| !c.is_empty()) else {
        return "<p>No body.</p>\n".to_string();
    };
    let items: String = types
        .iter()
        .map(|(mime, media)| {
            format!(
                "<li><code>{}</code>: {}</li>",
                escape(mime),
                type_of(&media["schema"])
            )
        })
        .collect();
    format!("<ul class=\"media\">{items}</ul>\n")
}

fn responses(op: &Value) -> String {
    let empty = Map::new();
    let rows: String = op["responses"]
        .as_object()
        .unwrap_or(&empty)
        .iter()
        .map(|(status, r)| {
            let body = match r["content"].as_object() {
                Some(c) if !c.is_empty() => contents(&r["content"]),
                _ => "—".to_string(),
            };
            format!(
                "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td></tr>\n",
                escape(status),
                prose_inline(r["description"].as_str().unwrap_or("")),
                body,
            )
        })
        .collect();
    format!(
        "<table>\n<caption>Responses</caption>\n<thead><tr><th scope=\"col\">Status</th>\
         <th scope=\"col\">Meaning</th><th scope=\"col\">Body</th></tr></thead>\n<tbody>\n{rows}\
         </tbody>\n</table>\n"
    )
}

/// Every schema with its fields.
fn schemas(doc: &Value) -> String {
    let mut out =
        String::from("<section aria-labelledby=\"schemas\">\n<h2 id=\"schemas\">Schemas</h2>\n");
    let empty = Map::new();
    for (name, schema) in doc["components"]["schemas"].as_object().unwrap_or(&empty) {
        let id = anchor("schema", name);
        let _ = write!(
            out,
            // Named "X schema": a tag of the same name ("Usage") is a region of its own.
            "<section class=\"schema\" aria-label=\"{n} schema\">\n<h3 id=\"{id}\">{n}</h3>\n{d}",
            n = escape(name),
            d = prose(schema["description"].as_str().unwrap_or("")),
        );
        out.push_str(&fields(name, schema));
        out.push_str("</section>\n");
    }
    out.push_str("</section>\n");
    out
}

fn fields(name: &str, schema: &Value) -> String {
    let Some(props) = schema["properties"].as_object().filter(|p| !p.is_empty()) else {
        return format!("<p>Type: {}</p>\n", type_of(schema));
    };
    let required: Vec<&str> = schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let rows: String = props
        .iter()
        .map(|(field, s)| {
            let description = s["description"]
                .as_str()
                .or_else(|| s["oneOf"].as_array()?.iter().find_map(|v| v["description"].as_str()))
                .unwrap_or("");
            format!(
                "<tr><th scope=\"row\"><code>{}</code></th><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                escape(field),
                type_of(s),
                if required.contains(&field.as_str()) { "yes" } else { "no" },
                prose_inline(description),
            )
        })
        .collect();
    format!(
        "<table>\n<caption>Fields of {n}</caption>\n<thead><tr><th scope=\"col\">Field</th>\
         <th scope=\"col\">Type</th><th scope=\"col\">Required</th>\
         <th scope=\"col\">Description</th></tr></thead>\n<tbody>\n{rows}</tbody>\n</table>\n",
        n = escape(name)
    )
}

/// A schema's type in words, with links to named schemas.
fn type_of(schema: &Value) -> String {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.rsplit('/').next().unwrap_or(reference);
        return format!(
            "<a href=\"#{}\">{}</a>",
            anchor("schema", name),
            escape(name)
        );
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(options) = schema[key].as_array() {
            let joiner = if key == "allOf" { " and " } else { " or " };
            return options.iter().map(type_of).collect::<Vec<_>>().join(joiner);
        }
    }
    if let Some(values) = schema["enum"].as_array() {
        let names: Vec<String> = values
            .iter()
            .map(|v| format!("<code>{}</code>", escape(&v.to_string())))
            .collect();
        return format!("one of {}", names.join(", "));
    }
    let base = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let words: Vec<String> = base
        .iter()
        .map(|t| match *t {
            "array" => format!("array of {}", type_of(&schema["items"])),
            "object" if schema["additionalProperties"].is_object() => {
                format!("map of {}", type_of(&schema["additionalProperties"]))
            }
            other => match schema["format"].as_str() {
                Some(format) if other != "null" => {
                    format!("{} ({})", escape(other), escape(format))
                }
                _ => escape(other),
            },
        })
        .collect();
    if words.is_empty() {
        return "any".to_string();
    }
    words.join(" or ")
}

/// An id for an anchor: `prefix-` and the name's letters and digits, others as `-`.
fn anchor(prefix: &str, name: &str) -> String {
    let slug: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    format!("{prefix}-{slug}")
}

/// Escaped text in paragraphs (a blank line between them), `` `code` `` as `<code>`.
fn prose(text: &str) -> String {
    text.split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| format!("<p>{}</p>\n", prose_inline(p)))
        .collect()
}

/// Escaped text with `` `code` `` spans as `<code>`.
fn prose_inline(text: &str) -> String {
    let mut out = String::new();
    for (i, part) in escape(text).split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{part}</code>");
        } else {
            out.push_str(part);
        }
    }
    out
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn doc() -> Value {
        json!({
            "info": {"title": "Pyth-On API", "version": "1", "description": "Runs <code>."},
            "tags": [{"name": "Sessions", "description": "Live `kernels`"}],
            "paths": {"/api/v1/sessions/{id}": {"get": {
                "tags": ["Sessions"], "operationId": "get_session", "summary": "One <session>",
                "security": [{"bearer": []}],
                "parameters": [{"name": "id", "in": "path", "required": true,
                    "schema": {"type": "string", "format": "uuid"}}],
                "responses": {"200": {"description": "it", "content": {"application/json":
                    {"schema": {"$ref": "#/components/schemas/SessionInfo"}}}}}
            }}},
            "components": {"schemas": {"SessionInfo": {"type": "object", "required": ["id"],
                "properties": {"id": {"type": "string"}, "tags": {"type": ["array", "null"],
                    "items": {"type": "string"}}}}}}
        })
    }

    #[test]
    fn every_text_is_escaped_and_code_spans_become_code() {
        let html = page(&doc());
        assert!(html.contains("Runs &lt;code&gt;.") && html.contains("One &lt;session&gt;"));
        assert!(html.contains("Live <code>kernels</code>"));
        assert!(!html.contains("<script") && !html.contains("style="));
    }

    #[test]
    fn an_operation_links_its_schemas_and_a_schema_lists_its_fields() {
        let html = page(&doc());
        assert!(html
            .contains("<span class=\"method get\">GET</span> <code>/api/v1/sessions/{id}</code>"));
        assert!(html.contains("<a href=\"#schema-sessioninfo\">SessionInfo</a>"));
        assert!(html.contains("<h3 id=\"schema-sessioninfo\">SessionInfo</h3>"));
        assert!(html.contains("array of string or null"));
        assert!(html.contains("string (uuid)") && html.contains("Authenticated."));
        assert!(html.contains("<a href=\"#tag-sessions\">Sessions</a>"));
    }
}
