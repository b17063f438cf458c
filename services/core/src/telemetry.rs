//! Tracing set-up: human-readable logs by default, JSON with `LOG_FORMAT=json`.

use tracing_subscriber::EnvFilter;

/// `RUST_LOG`, or info without the chatter of the database and AWS layers.
fn filter() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new("info,sqlx=warn,aws_config=warn,aws_smithy_runtime=warn")
    })
}

pub fn init() {
    let builder = tracing_subscriber::fmt().with_env_filter(filter());
    let result = if std::env::var("LOG_FORMAT").is_ok_and(|f| f == "json") {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    // A second init (several services in one process) is harmless.
    let _ = result;
}

/// For tests: logs go through the test harness's capture, shown only for failing tests.
pub fn init_for_tests() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_test_writer()
        .try_init();
}
