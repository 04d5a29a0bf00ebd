//! Checks a real API response against the OpenAPI document: the status is documented for the
//! operation, the media type is one it lists for that status, and a JSON body validates
//! against the schema (OpenAPI 3.0: `nullable`, `$ref`, `allOf`/`oneOf`/`anyOf`). The test
//! helpers ([`super::TestApp::get`] and friends) run it on every `/api/v1` answer, so every
//! test that talks to the API checks the document too.

use std::sync::OnceLock;

use serde_json::Value;

/// The document the service serves (built in-process: the same code makes it).
pub fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        let spec = ca_enrol::api::service("http://localhost").spec();
        serde_json::from_str(&spec).expect("the OpenAPI document is JSON")
    })
}

/// The document's path template matching `path` (relative to `/api`, without a query):
/// a literal segment beats a parameter, as in the router.
pub fn operation_path(path: &str) -> Option<&'static str> {
    let segments: Vec<&str> = path.split('/').collect();
    let paths = document()["paths"].as_object()?;
    paths
        .keys()
        .filter_map(|template| {
            let parts: Vec<&str> = template.split('/').collect();
            if parts.len() != segments.len() {
                return None;
            }
            let mut literals = 0;
            for (t, s) in parts.iter().zip(&segments) {
                if t.starts_with('{') {
                    continue;
                }
                if t != s {
                    return None;
                }
                literals += 1;
            }
            Some((literals, template.as_str()))
        })
        .max()
        .map(|(_, t)| t)
}

/// Why the answer to `method url_path` (a full path such as `/api/v1/whoami?x=1`) does not
/// match the document, or `None` if it does. Paths outside `/api/v1` are not the API's.
pub fn mismatch(
    method: &str,
    url_path: &str,
    status: u16,
    content_type: Option<&str>,
    allow: Option<&str>,
    body: &[u8],
) -> Option<String> {
    let path = url_path.split('?').next()?.strip_prefix("/api")?;
    if !path.starts_with("/v1/") {
        return None;
    }
    let Some(template) = operation_path(path) else {
        // Unknown paths answer 404 problems, which are not an operation's.
        return (status != 404).then(|| format!("{status} for a path not in the document"));
    };
    let methods = &document()["paths"][template];
    let method = method.to_ascii_lowercase();
    if methods.get(&method).is_none() {
        if status != 405 {
            return Some(format!("{status} for a method the document does not list"));
        }
        let mut expected: Vec<String> = methods
            .as_object()?
            .keys()
            .map(|m| m.to_ascii_uppercase())
            .collect();
        if expected.iter().any(|m| m == "GET") {
            expected.push("HEAD".into());
        }
        let mut got: Vec<String> = allow
            .unwrap_or_default()
            .split(',')
            .map(|m| m.trim().to_string())
            .filter(|m| !m.is_empty())
            .collect();
        expected.sort();
        got.sort();
        return (got != expected)
            .then(|| format!("405 with Allow {allow:?}, expected {expected:?}"));
    }
    let responses = &methods[&method]["responses"];
    let Some(response) = responses
        .get(status.to_string())
        .or_else(|| responses.get("default"))
    else {
        return Some(format!(
            "status {status} is not documented for {method} {template}"
        ));
    };
    let content = response["content"].as_object();
    if body.is_empty() {
        return None;
    }
    let Some(content) = content else {
        return Some(format!("{status} has a body but documents none"));
    };
    let ct = content_type.unwrap_or_default();
    let essence = |t: &str| {
        t.split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
    };
    let Some((_, media)) = content.iter().find(|(t, _)| essence(t) == essence(ct)) else {
        return Some(format!(
            "{status} answered {ct:?}; documented: {:?}",
            content.keys().collect::<Vec<_>>()
        ));
    };
    if essence(ct) != "application/json" {
        return None;
    }
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return Some(format!("{status} body is not JSON: {e}")),
    };
    let mut errors = Vec::new();
    validate(&media["schema"], &value, "$", &mut errors);
    (!errors.is_empty()).then(|| format!("{status} body: {}", errors.join("; ")))
}

fn resolve(schema: &Value) -> &Value {
    match schema["$ref"].as_str() {
        Some(r) => {
            let name = r.rsplit('/').next().unwrap_or_default();
            resolve(&document()["components"]["schemas"][name])
        }
        None => schema,
    }
}

/// Validates `value` against `schema` (the subset poem-openapi writes), pushing one line per
/// problem with its JSON path.
pub fn validate(schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    let schema = resolve(schema);
    if value.is_null() {
        if schema["nullable"] != Value::Bool(true) {
            errors.push(format!("{at} is null but not nullable"));
        }
        return;
    }
    for sub in schema["allOf"].as_array().into_iter().flatten() {
        validate(sub, value, at, errors);
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(choices) = schema[key].as_array() {
            let fits = choices.iter().any(|c| {
                let mut e = Vec::new();
                validate(c, value, at, &mut e);
                e.is_empty()
            });
            if !fits {
                errors.push(format!("{at} matches no {key} choice"));
            }
        }
    }
    if let Some(values) = schema["enum"].as_array() {
        if !values.contains(value) {
            errors.push(format!("{at} = {value} is not one of the enum"));
        }
    }
    let ty = schema["type"].as_str().unwrap_or_default();
    let ok = match ty {
        "" => true,
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        other => {
            errors.push(format!("{at}: unknown schema type {other}"));
            return;
        }
    };
    if !ok {
        errors.push(format!("{at} = {value} is not of type {ty}"));
        return;
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (i, item) in array.iter().enumerate() {
            validate(items, item, &format!("{at}[{i}]"), errors);
        }
    }
    if let Some(object) = value.as_object() {
        for name in schema["required"].as_array().into_iter().flatten() {
            let name = name.as_str().unwrap_or_default();
            if !object.contains_key(name) {
                errors.push(format!("{at}.{name} is required but absent"));
            }
        }
        let properties = schema["properties"].as_object();
        for (name, v) in object {
            match properties.and_then(|p| p.get(name)) {
                Some(s) => validate(s, v, &format!("{at}.{name}"), errors),
                None => match schema.get("additionalProperties") {
                    Some(Value::Bool(false)) => {
                        errors.push(format!("{at}.{name} is not a documented property"))
                    }
                    Some(extra @ Value::Object(_)) => {
                        validate(extra, v, &format!("{at}.{name}"), errors)
                    }
                    // Undeclared properties are allowed by JSON Schema, but a typed response
                    // object lists all it writes: an unlisted one means the document is behind.
                    _ if properties.is_some() => {
                        errors.push(format!("{at}.{name} is not a documented property"))
                    }
                    _ => {}
                },
            }
        }
    }
}
