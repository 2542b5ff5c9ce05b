//! The decision over serialisable inputs: pass the best K, retry with changed
//! parameters, give up with the best flagged.

use likeness_core::StyleId;
use likeness_core::seeds;
use likeness_judge::score::{Artifact, LikenessMethod, Measurements, Scores};
use likeness_judge::{
    ArtifactCode, CandidateReport, DecisionInput, JudgedCandidate, Outcome, RenderParams, StyleQa,
    decide, decide_json,
};
use std::collections::BTreeMap;

fn report(likeness: f32, style: f32, phash: u64, artifacts: &[ArtifactCode]) -> CandidateReport {
    let mut r = CandidateReport {
        scores: Scores {
            likeness,
            colour: 0.8,
            composition: 0.8,
            style,
            artifacts: 1.0,
        },
        measurements: Measurements {
            likeness_method: LikenessMethod::Identity,
            faces_expected: Some(1),
            faces_found: 1,
            identity_distance: Some(0.5),
            landmark_error: Some(0.0),
            structure_ssim: None,
            palette_delta_e: Some(5.0),
            subject_box: None,
            head_height: Some(0.3),
            head_x: Some(0.5),
            head_y: Some(0.4),
            subject_visible: Some(1.0),
            style_measures: BTreeMap::new(),
            style_misses: vec![],
            luma_std: 50.0,
            black_tiles: 0.0,
            clipped: 0.0,
            dark_blotches: 0.0,
            phash: format!("{phash:016x}"),
        },
        artifacts: artifacts
            .iter()
            .map(|&code| Artifact {
                code,
                measured: 1.0,
                limit: 0.0,
            })
            .collect(),
        below: [("likeness", likeness), ("style", style)]
            .into_iter()
            .filter(|(_, s)| *s < 0.5)
            .map(|(n, _)| n.to_owned())
            .collect(),
        overall: 0.0,
        passed: false,
    };
    r.refresh();
    r
}

fn candidate(key: &str, seed: u64, r: CandidateReport) -> JudgedCandidate {
    JudgedCandidate {
        key: format!("work/pv_1/{key}"),
        seed,
        attempt: 1,
        report: r,
    }
}

fn diffusion(seed: u64) -> RenderParams {
    RenderParams {
        engine: "diffusion".into(),
        seed,
        strength: Some(0.6),
        identity_scale: Some(0.8),
    }
}

fn input(attempt: u32, candidates: Vec<JudgedCandidate>) -> DecisionInput {
    DecisionInput {
        style: StyleId::new("oil"),
        attempt,
        qa: StyleQa {
            keep: 2,
            max_attempts: 3,
            ..StyleQa::default()
        },
        params: diffusion(1),
        candidates,
        earlier: vec![],
    }
}

#[test]
fn the_best_k_that_clear_every_threshold_pass_and_the_rest_are_rejected() {
    let out = decide(input(
        1,
        vec![
            candidate("a", 1, report(0.7, 0.9, 0x0000_ffff_0000_ffff, &[])),
            candidate("b", 2, report(0.9, 0.9, 0xffff_0000_ffff_0000, &[])),
            candidate("c", 3, report(0.8, 0.9, 0x00ff_00ff_00ff_00ff, &[])),
            candidate("d", 4, report(0.95, 0.2, 0xf0f0_f0f0_f0f0_f0f0, &[])),
        ],
    ));
    assert_eq!(out.outcome, Outcome::Pass);
    let keys: Vec<_> = out.selected.iter().map(|s| s.key.as_str()).collect();
    assert_eq!(keys, ["work/pv_1/b", "work/pv_1/c"]);
    assert!(out.selected.iter().all(|s| !s.flagged));
    assert_eq!(out.rejected.len(), 2);
    assert!(
        out.rejected.contains(&"work/pv_1/d".to_owned()),
        "fails style"
    );
}

#[test]
fn a_likeness_miss_retries_diffusion_with_new_seeds_lower_strength_and_more_identity() {
    let out = decide(input(1, vec![candidate("a", 1, report(0.3, 0.9, 1, &[]))]));
    assert_eq!(out.outcome, Outcome::Retry);
    let next = out.retry.expect("retry parameters");
    let seed = next.seed.expect("a new base seed");
    let retried: Vec<u64> = (0..3).map(|i| seeds::variation(seed, i)).collect();
    assert!(retried.iter().all(|s| ![1, 2, 3].contains(s)), "{next:?}");
    assert_eq!(seed, seeds::next(1, 1), "the one seed formula");
    assert!((next.strength.unwrap() - 0.5).abs() < 1e-6, "{next:?}");
    assert!(
        (next.identity_scale.unwrap() - 1.0).abs() < 1e-6,
        "{next:?}"
    );
    assert_eq!(out.carry.len(), 1, "best kept for a later give-up");
    // Deterministic: the same input gives the same retry.
    let again = decide(input(1, vec![candidate("a", 1, report(0.3, 0.9, 1, &[]))]));
    assert_eq!(again.retry.unwrap().seed, next.seed);

    // A style miss keeps the strength: only identity trouble trades style for likeness.
    let out = decide(input(1, vec![candidate("a", 1, report(0.9, 0.2, 1, &[]))]));
    let next = out.retry.expect("retry");
    assert_eq!(next.strength, Some(0.6));
}

#[test]
fn when_attempts_run_out_the_best_usable_candidate_is_delivered_flagged() {
    let mut last = input(
        3,
        vec![
            candidate("blank", 9, report(0.0, 0.0, 7, &[ArtifactCode::Blank])),
            candidate("weak", 8, report(0.4, 0.9, 3, &[])),
        ],
    );
    last.earlier = vec![JudgedCandidate {
        attempt: 1,
        ..candidate("earlier", 1, report(0.45, 0.9, 0xffff_ffff_0000_0000, &[]))
    }];
    let out = decide(last);
    assert_eq!(out.outcome, Outcome::GiveUp);
    assert_eq!(out.selected.len(), 1);
    assert_eq!(out.selected[0].key, "work/pv_1/earlier");
    assert!(out.selected[0].flagged);
    assert!(out.note.contains("flagged"), "{}", out.note);
    assert_eq!(out.rejected.len(), 2);

    let only_blank = decide(input(
        3,
        vec![candidate(
            "blank",
            9,
            report(0.0, 0.0, 7, &[ArtifactCode::Blank]),
        )],
    ));
    assert_eq!(only_blank.outcome, Outcome::GiveUp);
    assert!(only_blank.selected.is_empty());
    assert!(
        only_blank.note.contains("nothing delivered"),
        "{}",
        only_blank.note
    );
}

#[test]
fn the_decision_round_trips_through_json_as_the_state_machine_calls_it() {
    let i = input(1, vec![candidate("a", 1, report(0.9, 0.9, 5, &[]))]);
    let json = serde_json::to_value(&i).unwrap();
    let out = decide_json(&json).unwrap();
    assert_eq!(out["outcome"], "pass");
    assert_eq!(out["selected"][0]["key"], "work/pv_1/a");
    let bad = serde_json::json!({"style": "oil"});
    let err = decide_json(&bad).unwrap_err().to_string();
    assert!(err.contains("missing field"), "{err}");
}
