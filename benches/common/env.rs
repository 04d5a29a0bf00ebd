//! Reading the benchmarks' settings from the environment. Each benchmark is its own crate, so
//! they include this file with `#[path]`.

/// `name` parsed, or `default` when it is unset or does not parse.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
