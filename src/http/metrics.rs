//! Request counts and latency histograms by route and status, in Prometheus text format.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use poem::http::Method;

const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Default)]
struct Series {
    count: u64,
    sum: f64,
    buckets: [u64; BUCKETS.len()],
}

/// route -> (method, status) -> series. Keyed by route first so that counting a request for
/// a route seen before allocates nothing.
type SeriesMap = BTreeMap<String, BTreeMap<(&'static str, u16), Series>>;

#[derive(Clone, Default)]
pub struct Metrics {
    series: Arc<Mutex<SeriesMap>>,
}

/// Standard methods by name; anything else is counted as `OTHER` (bounded label set).
fn method_label(m: &Method) -> &'static str {
    [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::HEAD,
        Method::OPTIONS,
    ]
    .into_iter()
    .zip(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
    .find_map(|(known, label)| (*m == known).then_some(label))
    .unwrap_or("OTHER")
}

/// The label of a request that matched no route: one label for every unknown path, so the
/// label set stays bounded whatever clients send.
pub const UNMATCHED: &str = "unmatched";

/// The route table's pattern in the OpenAPI document's spelling: `/ca/:file` is `/ca/{file}`,
/// `/ocsp/*request` is `/ocsp/{request}`.
fn route_label(pattern: &str) -> String {
    if pattern == UNMATCHED {
        return pattern.to_string();
    }
    let mut out = String::with_capacity(pattern.len() + 2);
    for seg in pattern.split('/').filter(|s| !s.is_empty()) {
        out.push('/');
        match seg.strip_prefix([':', '*']) {
            Some(name) => {
                // A regex constraint (`:id<\d+>`) is not part of the name.
                let name = name.split('<').next().unwrap_or(name);
                let _ = write!(out, "{{{name}}}");
            }
            None => out.push_str(seg),
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

impl Metrics {
    /// Counts a request under the route pattern that matched it (poem's `PathPattern`, or
    /// [`UNMATCHED`]). The label text is made when the metrics are read, so counting a
    /// request on a route seen before allocates nothing.
    pub fn observe(&self, method: &Method, route: &str, status: u16, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        let Ok(mut map) = self.series.lock() else {
            return;
        };
        if !map.contains_key(route) {
            map.insert(route.to_string(), BTreeMap::new());
        }
        let Some(by_route) = map.get_mut(route) else {
            return;
        };
        let s = by_route.entry((method_label(method), status)).or_default();
        s.count += 1;
        s.sum += secs;
        for (i, le) in BUCKETS.iter().enumerate() {
            if secs <= *le {
                s.buckets[i] += 1;
            }
        }
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let Ok(map) = self.series.lock() else {
            return out;
        };
        out.push_str("# HELP http_requests_total HTTP requests by method, route and status.\n");
        out.push_str("# TYPE http_requests_total counter\n");
        let labels: Vec<(String, &BTreeMap<_, Series>)> =
            map.iter().map(|(r, by)| (route_label(r), by)).collect();
        let all = || {
            labels
                .iter()
                .flat_map(|(r, by)| by.iter().map(move |((m, st), s)| (*m, r, *st, s)))
        };
        for (m, r, st, s) in all() {
            let _ = writeln!(
                out,
                "http_requests_total{{method=\"{m}\",route=\"{r}\",status=\"{st}\"}} {}",
                s.count
            );
        }
        out.push_str("# HELP http_request_duration_seconds Request latency.\n");
        out.push_str("# TYPE http_request_duration_seconds histogram\n");
        for (m, r, st, s) in all() {
            let labels = format!("method=\"{m}\",route=\"{r}\",status=\"{st}\"");
            for (i, le) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "http_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {}",
                    s.buckets[i]
                );
            }
            let _ = writeln!(
                out,
                "http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                s.count
            );
            let _ = writeln!(
                out,
                "http_request_duration_seconds_sum{{{labels}}} {}",
                s.sum
            );
            let _ = writeln!(
                out,
                "http_request_duration_seconds_count{{{labels}}} {}",
                s.count
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_labels_spell_parameters_as_the_openapi_document_does() {
        assert_eq!(route_label("/api/v1/api-keys/:id"), "/api/v1/api-keys/{id}");
        assert_eq!(route_label("/api/v1/whoami"), "/api/v1/whoami");
        assert_eq!(route_label("/ocsp/*request"), "/ocsp/{request}");
        assert_eq!(route_label("/x/:id<\\d+>"), "/x/{id}");
        assert_eq!(route_label(""), "/");
        assert_eq!(route_label(UNMATCHED), UNMATCHED);
    }

    #[test]
    fn counts_render_under_their_route_label() {
        let m = Metrics::default();
        let t = Duration::from_millis(3);
        m.observe(&Method::GET, "/ca/:file", 200, t);
        m.observe(&Method::GET, "/ca/:file", 200, t);
        m.observe(&Method::from_bytes(b"BREW").unwrap(), UNMATCHED, 404, t);
        let text = m.render();
        assert!(text
            .contains("http_requests_total{method=\"GET\",route=\"/ca/{file}\",status=\"200\"} 2"));
        assert!(text.contains(
            "http_requests_total{method=\"OTHER\",route=\"unmatched\",status=\"404\"} 1"
        ));
    }
}
