//! What previews cost. `GET /v1/previews/{id}/cost`: the preview's lines and
//! total, for its tenant (and for finance keys). `GET /v1/costs`: totals over a
//! range grouped by day, style or tenant, for finance keys only.

use crate::auth::{Caller, FINANCE_READS_ANY_TENANT, TenantPreview};
use crate::views::{CostTotals, ErrorBody, PreviewCost};
use crate::{ApiError, ApiState};
use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use likeness_core::cost::{self, GroupBy};
use likeness_core::ports::KeyScope;
use serde::Deserialize;
use std::collections::BTreeSet;

#[utoipa::path(
    get,
    path = "/v1/previews/{id}/cost",
    tag = "costs",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The preview id, `pv_…`")),
    responses(
        (status = 200, description = "The preview's cost lines and total", body = PreviewCost),
        (status = 401, description = "No or unknown API key", body = ErrorBody),
        (status = 403, description = "A browser token", body = ErrorBody),
        (status = 404, description = "No such preview for this key", body = ErrorBody),
    )
)]
pub async fn preview_cost(
    State(state): State<ApiState>,
    TenantPreview { preview, .. }: TenantPreview<FINANCE_READS_ANY_TENANT>,
) -> Result<Json<PreviewCost>, ApiError> {
    let id = preview.id;
    let lines = state.costs.lines_for(&id).await?;
    let versions: BTreeSet<&str> = lines
        .iter()
        .map(|l| l.price_table_version.as_str())
        .collect();
    Ok(Json(PreviewCost {
        preview_id: id.to_string(),
        currency: "USD".to_owned(),
        total_usd: cost::total_usd(&lines),
        price_table_versions: versions.into_iter().map(str::to_owned).collect(),
        lines: serde_json::to_value(&lines).unwrap_or_default(),
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CostQuery {
    /// Start of the range, RFC 3339 or `YYYY-MM-DD` (default: 30 days before `to`).
    from: Option<String>,
    /// End of the range, RFC 3339 or `YYYY-MM-DD` (that whole day; default: now).
    to: Option<String>,
    /// `day` (default), `style` or `tenant`.
    group_by: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/costs",
    tag = "costs",
    security(("api_key" = [])),
    params(CostQuery),
    responses(
        (status = 200, description = "Totals over the range (finance keys only)", body = CostTotals),
        (status = 400, description = "A bad range or grouping", body = ErrorBody),
        (status = 401, description = "No or unknown API key", body = ErrorBody),
        (status = 403, description = "Not a finance key", body = ErrorBody),
    )
)]
pub async fn totals(
    State(state): State<ApiState>,
    caller: Caller,
    Query(query): Query<CostQuery>,
) -> Result<Json<CostTotals>, ApiError> {
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
    Ok(Json(CostTotals {
        from,
        to,
        group_by: serde_json::to_value(group_by).unwrap_or_default(),
        currency: "USD".to_owned(),
        total_usd: cost::total_usd(&lines),
        groups: serde_json::to_value(&groups).unwrap_or_default(),
    }))
}
