//! `likeness webhooks`: replay a preview's events, or list its delivery attempts.

use crate::costs_cmd::database;
use anyhow::Context;
use likeness_core::PreviewId;
use likeness_core::ledger::Deliveries;
use likeness_core::ports::SystemClock;
use likeness_embedded::{QueueOptions, SqliteDeliveries, SqliteQueue};
use likeness_notify::{Notifier, NotifyConfig, TargetPolicy};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(clap::Args, Debug)]
pub struct WebhooksArgs {
    #[command(subcommand)]
    action: Action,
    /// The embedded stack's data directory.
    #[arg(
        long,
        global = true,
        env = "LIKENESS_DATA_DIR",
        default_value = "likeness-data"
    )]
    data_dir: PathBuf,
    /// Allow loopback/private targets and plain http (one-machine setups only).
    #[arg(long, global = true, env = "LIKENESS_WEBHOOKS_ALLOW_PRIVATE")]
    allow_private_targets: bool,
}

#[derive(clap::Subcommand, Debug)]
enum Action {
    /// Send the preview's events again now, with their original webhook ids.
    Replay { preview_id: String },
    /// List every delivery attempt made for the preview.
    Attempts { preview_id: String },
}

fn preview_id(s: &str) -> anyhow::Result<PreviewId> {
    let id = PreviewId::new(s);
    anyhow::ensure!(
        id.is_well_formed(),
        "`{s}` is not a preview id (pv_ + 32 hex digits)"
    );
    Ok(id)
}

pub async fn run(args: WebhooksArgs) -> anyhow::Result<()> {
    let db = database(&args.data_dir)?;
    let deliveries = Arc::new(SqliteDeliveries::open(&db).context("opening webhook records")?);
    {
        match args.action {
            Action::Attempts { preview_id: id } => {
                for a in deliveries.attempts_for(&preview_id(&id)?).await? {
                    println!("{}", serde_json::to_string(&a)?);
                }
            }
            Action::Replay { preview_id: id } => {
                let id = preview_id(&id)?;
                let mut config = NotifyConfig::production();
                if args.allow_private_targets {
                    config.policy = TargetPolicy {
                        allow_private_targets: true,
                        require_https: false,
                    };
                }
                let queue = Arc::new(SqliteQueue::open(
                    &args.data_dir.join("queue.sqlite"),
                    Arc::new(SystemClock),
                )?);
                queue
                    .declare(
                        &config.queue,
                        QueueOptions {
                            max_receives: Some(20),
                            dead_letter: Some(config.dead_letter_queue.clone()),
                        },
                    )
                    .await?;
                let notifier = Notifier::new(deliveries, queue, Arc::new(SystemClock), config);
                for a in notifier.replay(&id).await? {
                    println!(
                        "{} attempt {}: {:?} status={} latency={}ms{}",
                        a.webhook_id,
                        a.attempt,
                        a.outcome,
                        a.status_code.map_or("-".into(), |c| c.to_string()),
                        a.latency_ms,
                        a.error.map(|e| format!(" error={e}")).unwrap_or_default()
                    );
                }
            }
        }
        Ok(())
    }
}
