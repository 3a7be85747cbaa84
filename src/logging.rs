//! The function's log lines, set up as lambda_http's default subscriber sets them up (Lambda's
//! advanced logging controls: `AWS_LAMBDA_LOG_FORMAT`, `AWS_LAMBDA_LOG_LEVEL`; and `RUST_LOG`),
//! on tracing-subscriber's target filter. lambda_http's subscriber uses `EnvFilter`, whose
//! field-value matching brings a regex engine into the binary that this function never needs
//! (docs/performance.md).

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::{Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

/// Installs the global subscriber: one line per event on stdout, JSON when `AWS_LAMBDA_LOG_FORMAT`
/// is `JSON`, else text; no timestamp (CloudWatch stamps every line), no target, no colours.
pub fn init() {
    let var = |name| std::env::var(name).ok();
    let json = var("AWS_LAMBDA_LOG_FORMAT").is_some_and(|f| f.eq_ignore_ascii_case("json"));
    let lines = tracing_subscriber::fmt::layer()
        .with_target(false)
        .without_time()
        .with_ansi(false)
        .with_writer(std::io::stdout);
    let lines = if json {
        lines.json().boxed()
    } else {
        lines.boxed()
    };
    tracing_subscriber::registry()
        .with(lines)
        .with(filter(
            var("AWS_LAMBDA_LOG_LEVEL").as_deref(),
            var("RUST_LOG").as_deref(),
        ))
        .init();
}

/// What gets logged: `RUST_LOG`'s per-target directives (`hyper=warn,update_log_by_ref=debug`)
/// over a default level, which is `AWS_LAMBDA_LOG_LEVEL` where Lambda sets it, else `RUST_LOG`'s
/// own bare level, else INFO. A value that does not parse is ignored, as lambda_http ignores it.
pub fn filter(lambda_level: Option<&str>, rust_log: Option<&str>) -> Targets {
    let directives: Targets = rust_log.and_then(|v| v.parse().ok()).unwrap_or_default();
    let level = lambda_level
        .and_then(level)
        .or(directives.default_level())
        .unwrap_or(LevelFilter::INFO);
    directives.with_default(level)
}

/// A level by its name in any case; Lambda's `FATAL` is tracing's `ERROR`.
fn level(name: &str) -> Option<LevelFilter> {
    if name.eq_ignore_ascii_case("fatal") {
        return Some(LevelFilter::ERROR);
    }
    name.parse().ok()
}

#[cfg(test)]
mod tests {
    use tracing::Level;

    use super::*;

    fn enabled(filter: &Targets, target: &str, level: Level) -> bool {
        filter.would_enable(target, &level)
    }

    #[test]
    fn info_when_nothing_is_set() {
        let f = filter(None, None);
        assert!(enabled(&f, "update_log_by_ref", Level::INFO));
        assert!(!enabled(&f, "update_log_by_ref", Level::DEBUG));
    }

    #[test]
    fn lambda_level_in_any_case_and_fatal_as_error() {
        assert!(enabled(&filter(Some("DEBUG"), None), "x", Level::DEBUG));
        assert!(!enabled(&filter(Some("warn"), None), "x", Level::INFO));
        let fatal = filter(Some("FATAL"), None);
        assert!(enabled(&fatal, "x", Level::ERROR));
        assert!(!enabled(&fatal, "x", Level::WARN));
    }

    #[test]
    fn rust_log_targets_over_the_default_level() {
        let f = filter(Some("INFO"), Some("hyper=warn,update_log_by_ref=debug"));
        assert!(enabled(&f, "update_log_by_ref::store", Level::DEBUG));
        assert!(!enabled(&f, "hyper::proto", Level::INFO));
        assert!(enabled(&f, "tokio", Level::INFO));
        assert!(!enabled(&f, "tokio", Level::DEBUG));
    }

    #[test]
    fn rust_log_bare_level_unless_lambda_sets_one() {
        assert!(enabled(&filter(None, Some("debug")), "x", Level::DEBUG));
        assert!(!enabled(
            &filter(Some("ERROR"), Some("debug")),
            "x",
            Level::WARN
        ));
    }

    #[test]
    fn values_that_do_not_parse_are_ignored() {
        let f = filter(Some("loud"), Some("=?=[{"));
        assert!(enabled(&f, "x", Level::INFO));
        assert!(!enabled(&f, "x", Level::DEBUG));
    }
}
