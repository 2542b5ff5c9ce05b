//! `likeness serve`: the whole service on this machine.

use crate::pipeline::{Pipeline, PipelineOptions};
use crate::stack::EmbeddedStack;
use anyhow::Context;
use likeness_api::ApiConfig;
use likeness_core::{Catalogue, TenantId};
use std::path::Path;
use tokio_util::sync::CancellationToken;

/// The tenant the page at `/` orders for: `likeness serve` plays that
/// tenant's backend, minting an order token into every page it serves.
pub const STOREFRONT_TENANT: &str = "web";

/// `likeness serve`: the API on 127.0.0.1:`port`, the object server on `port + 1`,
/// and every pipeline stage, until Ctrl-C or SIGTERM.
pub async fn serve(data_dir: &Path, port: u16) -> anyhow::Result<()> {
    let objects_port = port.checked_add(1).context("port too large")?;
    crate::identity::ensure_models().await;
    // The page `/` serves is on the API's origin; its browser uploads to the
    // object server, another origin, under the bucket's CORS rule.
    let mut config = ApiConfig::from_env().map_err(anyhow::Error::msg)?;
    let mut page_origins = vec![
        format!("http://127.0.0.1:{port}"),
        format!("http://localhost:{port}"),
    ];
    page_origins.extend(config.frontend_origins.iter().cloned());
    config.storefront_tenant = Some(TenantId::new(STOREFRONT_TENANT));
    let stack = EmbeddedStack::open_for_pages(
        data_dir,
        objects_port,
        std::sync::Arc::new(likeness_core::ports::SystemClock),
        &page_origins,
    )
    .await?;
    let engine = likeness_render::engine_from_env(&Catalogue::builtin())?;
    let options = PipelineOptions {
        retention: likeness_core::retention::Retention::from_env().map_err(anyhow::Error::msg)?,
        ..PipelineOptions::default()
    };
    let pipeline = Pipeline::open(stack, engine, options, data_dir).await?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("listening on 127.0.0.1:{port}"))?;
    tracing::info!(
        api = %format!("http://127.0.0.1:{port}"),
        objects = %pipeline.stack.objects.endpoint_url(),
        data_dir = %data_dir.display(),
        "likeness is serving"
    );
    // The one line a newcomer needs, whatever the log filter says.
    println!("likeness is serving: open http://127.0.0.1:{port}/ to order a preview");
    let stop = CancellationToken::new();
    let app = likeness_api::router(pipeline.stack.api_state(config).await?);
    let api_stop = stop.clone();
    let limits = likeness_api::ServerLimits::default();
    let api = likeness_api::serve(
        listener,
        app,
        limits,
        async move { api_stop.cancelled().await },
    );
    let signal_stop = stop.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("stopping");
        signal_stop.cancel();
    });
    let (served, ran) = tokio::join!(api, pipeline.run(stop.clone()));
    served?;
    ran?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
