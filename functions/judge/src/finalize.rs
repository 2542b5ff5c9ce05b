//! The `Finalize` task: deliver the selected candidates without metadata,
//! record what was delivered, mark the preview ready, delete everything under
//! `work/{id}/`, and meter the run. Safe to repeat: a second run re-delivers
//! the same keys and finds the preview ready already.

use crate::cleanup::{clean_up, store_delivered};
use crate::deliver::{DeliveryConfig, encode};
use futures_util::future::try_join_all;
use likeness_core::cost::ddb_write_units;
use likeness_core::metering::{Function, Meter, Stopwatch};
use likeness_core::ports::{Blobs, Clock, Previews};
use likeness_core::preview::PreviewPatch;
use likeness_core::task_error::names;
use likeness_core::tasks::{DeliveredImage, DeliveredStyle, FinalizeSummary, FinalizeTask};
use likeness_core::{PortError, Preview, Status, TaskError, keys};
use rayon::prelude::*;
use std::sync::Arc;

/// A preview encoded for delivery: WebP and JPEG bytes.
type Encoded = (Vec<u8>, Vec<u8>);

/// What finalize works with.
#[derive(Clone)]
pub struct FinalizePorts {
    pub blobs: Arc<dyn Blobs>,
    pub previews: Arc<dyn Previews>,
    pub delivery: DeliveryConfig,
    pub clock: Arc<dyn Clock>,
    pub meter: Option<Arc<dyn Meter>>,
}

pub async fn handle(
    ports: &FinalizePorts,
    task: FinalizeTask,
) -> Result<FinalizeSummary, TaskError> {
    let stopwatch = Stopwatch::start(&*ports.clock);
    let summary = finalize(ports, &task).await?;
    if let Some(meter) = &ports.meter {
        let delivered: u64 = task
            .results
            .iter()
            .map(|r| r.verdict.selected.len() as u64)
            .sum();
        let mut units = Function::Finalize.run(stopwatch.elapsed());
        // Per preview: read the candidate, write WebP and JPEG, read both back.
        units.s3_get = 3 * delivered;
        units.s3_put = 2 * delivered;
        units.ddb_rru = 1.0;
        let written = serde_json::to_vec(&summary).map_or(0, |v| v.len());
        units.ddb_wru = 2.0 * ddb_write_units(written);
        meter
            .record(&task.preview_id, "finalize", 1, None, units)
            .await;
    }
    Ok(summary)
}

/// Delete what a stage made for an erased preview: its work objects and
/// anything delivered.
async fn forget(blobs: &dyn Blobs, preview: &Preview) -> Result<(), TaskError> {
    clean_up(blobs, &preview.id, &[]).await?;
    for key in blobs
        .list(&keys::delivered_prefix(&preview.tenant, &preview.id))
        .await?
    {
        blobs.delete(&key).await?;
    }
    tracing::info!(preview_id = %preview.id, "finalize found the preview erased; removed its objects");
    Ok(())
}

async fn finalize(
    ports: &FinalizePorts,
    task: &FinalizeTask,
) -> Result<FinalizeSummary, TaskError> {
    let id = &task.preview_id;
    let (blobs, previews) = (&*ports.blobs, &*ports.previews);
    let preview = previews
        .get(id)
        .await?
        .ok_or_else(|| TaskError::new(names::FINALIZE_NO_PREVIEW, id))?;
    if preview.tenant != task.tenant {
        return Err(TaskError::new(names::FINALIZE_WRONG_TENANT, id));
    }
    if preview.status == Status::Erased {
        forget(blobs, &preview).await?;
        return Err(TaskError::new(
            names::FINALIZE_CONFLICT,
            format!("preview {id} was erased"),
        ));
    }
    if preview.status == Status::Ready {
        return Ok(FinalizeSummary {
            status: Status::Ready,
            styles: preview.results.unwrap_or_default(),
        });
    }
    // Every selected candidate still in work storage (an earlier run of this
    // task that failed later may have delivered and cleaned some up already).
    // The selected candidates are fetched, encoded and stored side by side.
    let wanted: Vec<(usize, usize)> = task
        .results
        .iter()
        .enumerate()
        .flat_map(|(r, result)| (0..result.verdict.selected.len()).map(move |n| (r, n)))
        .collect();
    let fetched = try_join_all(wanted.iter().map(|&(r, n)| async move {
        match blobs.get(&task.results[r].verdict.selected[n].key).await {
            Ok(bytes) => Ok(Some((r, n, bytes))),
            Err(PortError::NotFound(_)) => Ok(None),
            Err(e) => Err(TaskError::from(e)),
        }
    }))
    .await?;
    let fetched: Vec<(usize, usize, Vec<u8>)> = fetched.into_iter().flatten().collect();
    let encoded: Vec<Result<Encoded, TaskError>> = fetched
        .par_iter()
        .map(|(r, n, bytes)| {
            let key = &task.results[*r].verdict.selected[*n].key;
            let image = image::load_from_memory(bytes)
                .map_err(|e| TaskError::new(names::JUDGE_BAD_IMAGE, format!("{key}: {e}")))?
                .to_rgb8();
            encode(&image, &ports.delivery).map_err(|e| TaskError::new(names::FINALIZE_DELIVERY, e))
        })
        .collect();
    let stored = try_join_all(fetched.iter().zip(encoded).map(|((r, n, _), encoded)| {
        let result = &task.results[*r];
        async move {
            let delivered = store_delivered(
                blobs,
                &task.tenant,
                id,
                &result.style,
                *n as u32 + 1,
                encoded?,
            )
            .await
            .map_err(|e| TaskError::new(names::FINALIZE_DELIVERY, e))?;
            Ok::<_, TaskError>((*r, *n, delivered))
        }
    }))
    .await?;
    let mut delivered_by_style: Vec<Vec<DeliveredImage>> = vec![Vec::new(); task.results.len()];
    for (r, n, delivered) in stored {
        let result = &task.results[r];
        let selected = &result.verdict.selected[n];
        let scores = result
            .verdict
            .judged
            .iter()
            .find(|j| j.key == selected.key)
            .map(|j| j.scores);
        delivered_by_style[r].push(DeliveredImage {
            webp: delivered.webp,
            jpeg: delivered.jpeg,
            seed: selected.seed,
            overall: selected.overall,
            flagged: selected.flagged,
            below: selected.below.clone(),
            scores,
        });
    }
    let styles: Vec<DeliveredStyle> = task
        .results
        .iter()
        .zip(delivered_by_style)
        .map(|(result, previews)| DeliveredStyle {
            style: result.style.clone(),
            outcome: result.outcome,
            attempts: result.attempts,
            note: result.verdict.note.clone(),
            previews,
        })
        .collect();
    if preview.status == Status::Rendering {
        previews
            .transition(
                id,
                Status::Rendering,
                Status::Judging,
                PreviewPatch::default(),
            )
            .await?;
    }
    let patch = PreviewPatch {
        results: Some(styles.clone()),
        ..PreviewPatch::default()
    };
    match previews
        .transition(id, Status::Judging, Status::Ready, patch)
        .await
    {
        Ok(_) => {}
        Err(PortError::Conflict(_)) => {
            let now = previews.get(id).await?.map(|p| p.status);
            if now == Some(Status::Erased) {
                // Erased while this task delivered: what it delivered goes too.
                forget(blobs, &preview).await?;
            }
            if now != Some(Status::Ready) {
                return Err(TaskError::new(
                    names::FINALIZE_CONFLICT,
                    format!("preview {id} is {now:?}"),
                ));
            }
        }
        Err(e) => return Err(e.into()),
    }
    clean_up(blobs, id, &[]).await?;
    tracing::info!(preview_id = %id, "preview ready");
    Ok(FinalizeSummary {
        status: Status::Ready,
        styles,
    })
}
