//! The AWS entry points of likeness. Each Lambda function (and the render
//! worker container) is a thin `main` in `src/bin/` that builds its clients
//! once from the environment and hands events to a handler here. Handlers take
//! the ports (`likeness-core`), never SDK clients, so the tests drive them with
//! the embedded adapters and the fixtures in `events/`.

pub mod analyze;
pub mod api;
pub mod config;
pub mod finalize;
pub mod judge;
pub mod mark_failed;
pub mod metering;
pub mod notify;
pub mod render_worker;
pub mod task;
pub mod webhooks;

pub use config::{AwsStack, ConfigError};
pub use task::TaskFailed;

/// JSON logs at `RUST_LOG` (default `info`), as CloudWatch reads them.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .without_time()
        .try_init();
}
