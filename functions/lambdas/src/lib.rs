//! The AWS entry points of likeness: wiring only. Each Lambda function (and
//! the render worker container) is a thin `main` in `src/bin/` that builds its
//! clients once from the environment ([`AwsStack`]) and serves the stage's
//! handler, which lives in the stage's own crate and takes ports, never SDK
//! clients: the one-machine pipeline serves the very same handlers.

pub mod api;
pub mod config;
pub mod diffusion_weights;
pub mod render_worker;
pub mod task;
pub mod webhooks;

pub use config::{AwsStack, ConfigError};

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
