//! The per-style decision: pass the best K, retry with changed parameters, or
//! give up and deliver the best with a flag. A pure function over serialisable
//! input and output, so the state machine's judge task can call it with JSON.

use crate::config::StyleQa;
use crate::metrics::hamming;
use crate::score::{Artifact, ArtifactCode, CandidateReport};
use likeness_core::tasks::{RenderParameters, Selected};
use likeness_core::{StyleId, seeds};
use serde::{Deserialize, Serialize};

/// What one attempt rendered with, as the render worker reported it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RenderParams {
    /// `classic` or `diffusion`.
    pub engine: String,
    /// The attempt's base seed ([`seeds::variation`] gives each candidate's).
    pub seed: u64,
    /// Diffusion img2img strength.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strength: Option<f32>,
    /// Diffusion identity-adapter scale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_scale: Option<f32>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JudgedCandidate {
    /// Object key of the candidate image (under `work/{id}/`).
    pub key: String,
    pub seed: u64,
    pub attempt: u32,
    pub report: CandidateReport,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DecisionInput {
    pub style: StyleId,
    /// The attempt just judged, 1 for the first render.
    pub attempt: u32,
    pub qa: StyleQa,
    pub params: RenderParams,
    pub candidates: Vec<JudgedCandidate>,
    /// Candidates carried over from earlier attempts (the previous decision's `carry`).
    #[serde(default)]
    pub earlier: Vec<JudgedCandidate>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// At least one candidate cleared every threshold; the best (up to K) are delivered.
    Pass,
    /// Nothing passed and attempts remain: render again with `retry`.
    Retry,
    /// Attempts ran out: the best candidate is delivered flagged, or nothing when
    /// every candidate is unusable (blank, black tiles, melted face).
    GiveUp,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DecisionOutput {
    pub style: StyleId,
    pub outcome: Outcome,
    pub attempt: u32,
    pub selected: Vec<Selected>,
    /// Candidate keys to delete now: neither selected nor carried.
    pub rejected: Vec<String>,
    /// With `retry`: what the next attempt renders with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RenderParameters>,
    /// With `retry`: the best so far, to pass back as `earlier` next time.
    pub carry: Vec<JudgedCandidate>,
    /// All judged candidates with near duplicates marked, for the record.
    pub judged: Vec<JudgedCandidate>,
    /// One line for the record: what was decided and why.
    pub note: String,
}

fn severe(a: &Artifact) -> bool {
    matches!(
        a.code,
        ArtifactCode::Blank
            | ArtifactCode::BlackTiles
            | ArtifactCode::MeltedFace
            | ArtifactCode::NearDuplicate
    )
}

/// Mark every candidate whose perceptual hash is within `bits` of a better-ranked
/// one as `near_duplicate`. `candidates` must be sorted best first.
pub fn mark_near_duplicates(candidates: &mut [JudgedCandidate], bits: u32) {
    for i in 1..candidates.len() {
        let Some(hash) = candidates[i].report.phash() else {
            continue;
        };
        let closest = candidates[..i]
            .iter()
            .filter_map(|c| c.report.phash())
            .map(|other| hamming(hash, other))
            .min();
        if let Some(distance) = closest.filter(|d| *d <= bits) {
            let report = &mut candidates[i].report;
            if !report
                .artifacts
                .iter()
                .any(|a| a.code == ArtifactCode::NearDuplicate)
            {
                report.artifacts.push(Artifact {
                    code: ArtifactCode::NearDuplicate,
                    measured: distance as f32,
                    limit: bits as f32,
                });
                report.refresh();
            }
        }
    }
}

fn selected(c: &JudgedCandidate, flagged: bool) -> Selected {
    Selected {
        key: c.key.clone(),
        seed: c.seed,
        overall: c.report.overall,
        flagged,
        below: c.report.below.clone(),
        artifacts: c.report.artifacts.iter().map(|a| a.code).collect(),
    }
}

pub fn decide(input: DecisionInput) -> DecisionOutput {
    let qa = &input.qa;
    let mut all: Vec<JudgedCandidate> = input.earlier.into_iter().chain(input.candidates).collect();
    // Rank by quality, artifacts aside, so an artifact-free render outranks its
    // duplicates and give-up can still compare flawed candidates.
    all.sort_by(|a, b| {
        let key =
            |c: &JudgedCandidate| (!c.report.artifacts.iter().any(severe), c.report.quality());
        let (ka, kb) = (key(a), key(b));
        kb.0.cmp(&ka.0)
            .then(kb.1.total_cmp(&ka.1))
            .then(a.key.cmp(&b.key))
    });
    mark_near_duplicates(&mut all, qa.duplicate_bits);
    // Severe artifacts may have appeared (near duplicates): restore the ranking.
    all.sort_by(|a, b| {
        let key = |c: &JudgedCandidate| {
            (
                c.report.passed,
                !c.report.artifacts.iter().any(severe),
                c.report.quality(),
            )
        };
        let (ka, kb) = (key(a), key(b));
        kb.0.cmp(&ka.0)
            .then(kb.1.cmp(&ka.1))
            .then(kb.2.total_cmp(&ka.2))
            .then(a.key.cmp(&b.key))
    });

    let passing: Vec<&JudgedCandidate> = all
        .iter()
        .filter(|c| c.report.passed)
        .take(qa.keep)
        .collect();
    let keys_except = |keep: &[String]| -> Vec<String> {
        all.iter()
            .map(|c| c.key.clone())
            .filter(|k| !keep.contains(k))
            .collect()
    };
    if !passing.is_empty() {
        let chosen: Vec<Selected> = passing.iter().map(|c| selected(c, false)).collect();
        let keep: Vec<String> = chosen.iter().map(|s| s.key.clone()).collect();
        return DecisionOutput {
            style: input.style,
            outcome: Outcome::Pass,
            attempt: input.attempt,
            note: format!(
                "{} of {} candidates passed on attempt {}; delivering {}",
                all.iter().filter(|c| c.report.passed).count(),
                all.len(),
                input.attempt,
                chosen.len()
            ),
            rejected: keys_except(&keep),
            selected: chosen,
            retry: None,
            carry: Vec::new(),
            judged: all,
        };
    }

    let best = all.first();
    let why = best.map_or_else(
        || "no candidates".to_owned(),
        |b| {
            let mut parts = b.report.below.clone();
            parts.extend(
                b.report
                    .artifacts
                    .iter()
                    .map(|a| a.code.as_str().to_owned()),
            );
            format!("best candidate below on: {}", parts.join(", "))
        },
    );
    if input.attempt < qa.max_attempts {
        let likeness_failed = best.is_some_and(|b| {
            b.report.below.iter().any(|x| x == "likeness")
                || b.report
                    .artifacts
                    .iter()
                    .any(|a| matches!(a.code, ArtifactCode::MissingFace | ArtifactCode::MeltedFace))
        });
        let used = &input.params;
        // A new base seed always; only identity trouble justifies trading style
        // for likeness, so a style or colour miss keeps the other settings.
        let mut next = RenderParameters {
            seed: Some(seeds::next(used.seed, input.attempt)),
            strength: used.strength,
            identity_scale: used.identity_scale,
        };
        if used.engine == "diffusion" && likeness_failed {
            next.strength = used
                .strength
                .map(|s| (s - qa.strength_step).max(qa.min_strength));
            next.identity_scale = Some(
                (used.identity_scale.unwrap_or(1.0) + qa.identity_scale_step)
                    .min(qa.max_identity_scale),
            );
        }
        let carry: Vec<JudgedCandidate> = all
            .iter()
            .filter(|c| !c.report.artifacts.iter().any(severe))
            .take(qa.keep)
            .cloned()
            .collect();
        let keep: Vec<String> = carry.iter().map(|c| c.key.clone()).collect();
        return DecisionOutput {
            style: input.style,
            outcome: Outcome::Retry,
            attempt: input.attempt,
            selected: Vec::new(),
            rejected: keys_except(&keep),
            note: format!(
                "attempt {} of {}: nothing passed ({why}); retrying",
                input.attempt, qa.max_attempts
            ),
            retry: Some(next),
            carry,
            judged: all,
        };
    }

    let deliverable = all.iter().find(|c| !c.report.artifacts.iter().any(severe));
    let chosen: Vec<Selected> = deliverable.map(|c| selected(c, true)).into_iter().collect();
    let keep: Vec<String> = chosen.iter().map(|s| s.key.clone()).collect();
    let note = match deliverable {
        Some(c) => format!(
            "gave up after {} attempts ({why}); delivering the best, {}, flagged as below the quality bar",
            input.attempt, c.key
        ),
        None => format!(
            "gave up after {} attempts: every candidate is unusable ({why}); nothing delivered",
            input.attempt
        ),
    };
    DecisionOutput {
        style: input.style,
        outcome: Outcome::GiveUp,
        attempt: input.attempt,
        rejected: keys_except(&keep),
        selected: chosen,
        retry: None,
        carry: Vec::new(),
        judged: all,
        note,
    }
}

/// [`decide`] over JSON, for the state machine's judge task.
pub fn decide_json(input: &serde_json::Value) -> Result<serde_json::Value, serde_json::Error> {
    let input: DecisionInput = serde_json::from_value(input.clone())?;
    serde_json::to_value(decide(input))
}
