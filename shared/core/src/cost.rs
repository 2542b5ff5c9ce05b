//! Cost lines and the versioned price table that prices them.

use crate::ids::PreviewId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A metered unit, named as the price table names it (e.g. `lambda_gb_second`).
pub type Meter = String;

/// One priced measurement of one stage of one preview.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CostLine {
    pub preview_id: PreviewId,
    pub stage: String,
    pub seq: u32,
    pub meter: Meter,
    pub quantity: f64,
    pub unit_price_usd: f64,
    pub price_table_version: String,
    pub usd: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Price {
    pub usd: f64,
    pub unit: String,
    pub source: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PriceTable {
    pub version: String,
    pub prices: BTreeMap<Meter, Price>,
}

impl PriceTable {
    pub fn price(
        &self,
        preview_id: &PreviewId,
        stage: &str,
        seq: u32,
        meter: &str,
        quantity: f64,
    ) -> Option<CostLine> {
        let price = self.prices.get(meter)?;
        Some(CostLine {
            preview_id: preview_id.clone(),
            stage: stage.to_owned(),
            seq,
            meter: meter.to_owned(),
            quantity,
            unit_price_usd: price.usd,
            price_table_version: self.version.clone(),
            usd: quantity * price.usd,
        })
    }
}
