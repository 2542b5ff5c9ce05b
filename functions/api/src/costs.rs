//! What previews cost. `GET /v1/previews/{id}/cost`: the preview's lines and
//! total, for its tenant (and for finance keys). `GET /v1/costs`: totals over a
//! range grouped by day, style or tenant, for finance keys only.

use crate::auth::{Caller, FINANCE_READS_ANY_TENANT, TenantPreview};
use crate::{ApiError, ApiState};
use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use likeness_core::cost::{self, GroupBy};
use likeness_core::ports::KeyScope;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeSet;

pub async fn preview_cost(
    State(state): State<ApiState>,
    TenantPreview { preview, .. }: TenantPreview<FINANCE_READS_ANY_TENANT>,
) -> Result<Json<Value>, ApiError> {
    let id = preview.id;
    let lines = state.costs.lines_for(&id).await?;
    let versions: BTreeSet<&str> = lines
        .iter()
        .map(|l| l.price_table_version.as_str())
        .collect();
    Ok(Json(json!({
        "preview_id": id,
        "currency": "USD",
        "total_usd": cost::total_usd(&lines),
        "price_table_versions": versions,
        "lines": lines,
    })))
}

#[derive(Debug, Deserialize)]
pub struct CostQuery {
    from: Option<String>,
    to: Option<String>,
    group_by: Option<String>,
}

pub async fn totals(
    State(state): State<ApiState>,
    caller: Caller,
    Query(query): Query<CostQuery>,
) -> Result<Json<Value>, ApiError> {
    if caller.scope != KeyScope::Finance {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "Cost reports need a finance-scoped API key.",
        ));
    }
    let group_by = match query.group_by.as_deref() {
        None => GroupBy::Day,
        Some(g) => g
            .parse::<GroupBy>()
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_group_by", e))?,
    };
    let (from, to) = cost::parse_range(
        query.from.as_deref(),
        query.to.as_deref(),
        state.clock.now(),
    )
    .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_range", e))?;
    let lines = state.costs.lines_between(from, to).await?;
    let groups = cost::group(&lines, group_by);
    Ok(Json(json!({
        "from": from,
        "to": to,
        "group_by": group_by,
        "currency": "USD",
        "total_usd": cost::total_usd(&lines),
        "groups": groups,
    })))
}
