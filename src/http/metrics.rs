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

/// Replaces path segments that identify objects (uuids, serials, numbers, long tokens) with
/// `{id}`, so the label set stays bounded whatever clients send.
pub fn route_label(path: &str) -> String {
    let mut out = String::new();
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        out.push('/');
        let digits = seg.bytes().filter(u8::is_ascii_digit).count();
        let idish = seg.len() > 24
            || digits >= 3
            || !seg
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        out.push_str(if idish { "{id}" } else { seg });
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

impl Metrics {
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
        let all = || {
            map.iter()
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
    fn object_ids_collapse_into_one_route_label() {
        assert_eq!(
            route_label("/api/v1/api-keys/1f2e3d4c5b6a7988"),
            "/api/v1/api-keys/{id}"
        );
        assert_eq!(route_label("/api/v1/whoami"), "/api/v1/whoami");
        assert_eq!(route_label("/"), "/");
        assert_eq!(route_label("/api/v1/x/42a1b2c3/ü"), "/api/v1/x/{id}/{id}");
    }
}
