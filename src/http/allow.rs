//! `Allow` on every 405 (RFC 9110 §15.5.6 requires it). poem's router answers a known path with
//! an unsupported method with a bare 405, so the methods are recorded where routes are made:
//! page and probe routes use [`get`] / [`post`] (poem's, remembering their methods), and the
//! API's come from its OpenAPI document ([`ApiMethods`]), the one list of its operations.

use std::collections::HashMap;
use std::sync::Arc;

use poem::error::MethodNotAllowedError;
use poem::http::{HeaderValue, Method};
use poem::{Endpoint, IntoEndpoint, Request, Response, RouteMethod};

/// The value of `Allow` a 405 answer carries, on the error for whoever turns it into a
/// response (the JSON problem in [`super::around`], or a page).
#[derive(Clone, Debug)]
pub struct Allow(pub HeaderValue);

/// poem's [`RouteMethod`] that refuses other methods with an [`Allow`]-carrying 405.
pub struct Methods {
    route: RouteMethod,
    methods: Vec<Method>,
}

pub fn get<E: IntoEndpoint>(ep: E) -> Methods
where
    E::Endpoint: 'static,
{
    Methods::default().get(ep)
}

pub fn post<E: IntoEndpoint>(ep: E) -> Methods
where
    E::Endpoint: 'static,
{
    Methods::default().post(ep)
}

impl Default for Methods {
    fn default() -> Self {
        Self {
            route: RouteMethod::new(),
            methods: Vec::new(),
        }
    }
}

impl Methods {
    pub fn get<E: IntoEndpoint>(mut self, ep: E) -> Self
    where
        E::Endpoint: 'static,
    {
        self.route = self.route.get(ep);
        self.methods.push(Method::GET);
        self
    }

    pub fn post<E: IntoEndpoint>(mut self, ep: E) -> Self
    where
        E::Endpoint: 'static,
    {
        self.route = self.route.post(ep);
        self.methods.push(Method::POST);
        self
    }
}

impl Endpoint for Methods {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let method = req.method();
        // poem answers HEAD for a GET route.
        let head_of_get = method == Method::HEAD && self.methods.contains(&Method::GET);
        if self.methods.contains(method) || head_of_get {
            return self.route.call(req).await;
        }
        let mut e = poem::Error::from(MethodNotAllowedError);
        e.set_data(Allow(allow_value(&self.methods)));
        Err(e)
    }
}

/// The API's methods per route pattern (poem's `PathPattern`), read from the OpenAPI document.
#[derive(Clone, Debug, Default)]
pub struct ApiMethods(Arc<HashMap<String, HeaderValue>>);

impl ApiMethods {
    /// `document` is the OpenAPI JSON of the API mounted at `prefix`.
    pub fn from_document(prefix: &str, document: &str) -> Self {
        let mut table = HashMap::new();
        let doc: serde_json::Value = serde_json::from_str(document).unwrap_or_default();
        if let Some(paths) = doc["paths"].as_object() {
            for (path, operations) in paths {
                let methods: Vec<Method> = operations
                    .as_object()
                    .into_iter()
                    .flat_map(|o| o.keys())
                    .filter_map(|m| Method::from_bytes(m.to_ascii_uppercase().as_bytes()).ok())
                    .collect();
                table.insert(unnamed(&format!("{prefix}{path}")), allow_value(&methods));
            }
        }
        Self(Arc::new(table))
    }

    pub fn allow(&self, route: &str) -> Option<&HeaderValue> {
        self.0.get(&unnamed(route))
    }
}

/// The pattern with its parameters' names dropped (`/v1/x/{}`): the document writes
/// `{serial}`, poem's router `:param0`.
fn unnamed(pattern: &str) -> String {
    pattern
        .split('/')
        .map(|segment| match segment.chars().next() {
            Some('{' | ':' | '*') => "{}",
            _ => segment,
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn allow_value(methods: &[Method]) -> HeaderValue {
    let mut names: Vec<&str> = methods.iter().map(Method::as_str).collect();
    if methods.contains(&Method::GET) {
        names.push("HEAD");
    }
    HeaderValue::from_str(&names.join(", ")).unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_methods_match_poems_numbered_parameters() {
        let doc =
            r#"{"paths": {"/v1/keys/{id}": {"delete": {}}, "/v1/me": {"get": {}, "post": {}}}}"#;
        let table = ApiMethods::from_document("/api", doc);
        assert_eq!(table.allow("/api/v1/keys/:param0").unwrap(), "DELETE");
        assert_eq!(table.allow("/api/v1/me").unwrap(), "GET, POST, HEAD");
        assert!(table.allow("/api/v1/other").is_none());
    }
}
