//! Orchestration overhead of the runner on the project's definition: one
//! preview with three styles (render callback through the queue, judge,
//! finalize, notify), every handler instant, history in a SQLite file.
//! Baseline, same run: the same handler calls and queue round trips made
//! directly, without the runner. The difference is what the runner costs.

#[path = "../tests/common/mod.rs"]
mod common;

use common::{Action, MemQueue, spawn_worker};
use criterion::{Criterion, criterion_group, criterion_main};
use likeness_core::ports::{Queue, Workflow};
use likeness_workflow::{
    Definition, FnLambda, InProcessHandlers, Lambda, Runner, StatesError, Store, TimeScale,
    testing_substitutions,
};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

const PREVIEW: &str = include_str!("../../../infra/statemachine/preview.asl.json");
const STYLES: [&str; 3] = ["watercolor", "oil", "lineart"];

fn lambda(out: Value) -> Arc<dyn Lambda> {
    Arc::new(FnLambda::new(move |_p: Value| {
        let out = out.clone();
        async move { Ok::<_, StatesError>(out) }
    }))
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let queue = Arc::new(MemQueue::default());
    let judge = lambda(json!({"decision": "pass"}));
    let finalize = lambda(json!({"delivered": 3}));
    let notify = lambda(json!({}));
    let mut h = InProcessHandlers::new().queue(queue.clone());
    for (f, l) in [
        ("judge", &judge),
        ("finalize", &finalize),
        ("mark-failed", &notify),
        ("notify", &notify),
    ] {
        h = h.lambda(
            &format!("arn:aws:lambda:local:000000000000:function:{f}"),
            l.clone(),
        );
    }
    let mut subs = testing_substitutions();
    subs.insert("MaxConcurrency".into(), "3".into());
    let def = Definition::load(PREVIEW, &subs).unwrap();
    let runner = Runner::new(
        "preview",
        &def,
        Arc::new(h),
        Store::open(&dir.path().join("wf.sqlite")).unwrap(),
        TimeScale::REAL,
    );
    let wf: Arc<dyn Workflow> = Arc::new(runner.clone());
    let (_worker, _log) = rt.block_on(async {
        spawn_worker(
            queue.clone(),
            "render",
            wf,
            vec![Action::SuccessEcho; 1_000_000],
        )
    });
    let n = AtomicU64::new(0);
    let mut g = c.benchmark_group("preview_3_styles");
    g.sample_size(30);
    g.bench_function("runner", |b| {
        b.iter(|| {
            rt.block_on(async {
                let name = format!("pv_{}", n.fetch_add(1, Ordering::Relaxed));
                runner
                    .start(&name, json!({"preview_id": name, "tenant": "t", "subject": "person", "styles": STYLES, "variations": 4}))
                    .unwrap();
                let rec = runner.wait(&name, Duration::from_secs(10)).await.unwrap().unwrap();
                assert_eq!(rec.status, likeness_workflow::ExecutionStatus::Succeeded);
            })
        })
    });
    g.bench_function("direct_calls", |b| {
        b.iter(|| {
            rt.block_on(async {
                for style in STYLES {
                    queue
                        .send(
                            "direct",
                            &json!({"style": style}).to_string(),
                            Duration::ZERO,
                        )
                        .await
                        .unwrap();
                    let m = queue
                        .receive("direct", 1, Duration::from_secs(30), Duration::from_secs(1))
                        .await
                        .unwrap();
                    assert_eq!(m.len(), 1);
                    judge.invoke(json!({"style": style})).await.unwrap();
                }
                finalize.invoke(json!({})).await.unwrap();
                notify.invoke(json!({})).await.unwrap();
            })
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
