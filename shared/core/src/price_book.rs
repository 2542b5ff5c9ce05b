//! The price book: list prices by region, GPU instance type and purchase
//! option, and Lambda architecture, from which the deployment's choices
//! select one [`PriceTable`].
//!
//! The GPU and Lambda duration lines are what a deployment chooses (the
//! template's `RenderInstanceType`, the Auto Scaling group's spot purchase,
//! the functions' `Architectures`); every other meter is a regional list
//! price. Spot prices move every few minutes and differ by zone, so the book
//! holds none: a spot deployment states its price
//! (`LIKENESS_GPU_SPOT_USD_PER_HOUR`, the `RenderSpotPriceUsdPerHour`
//! parameter), and without one the GPU is priced at the on-demand ceiling
//! (what a spot instance can cost at most), which the table's version says.

use crate::cost::{CostError, EnergyModel, Price, PriceTable, meters};
use serde::Deserialize;
use std::collections::BTreeMap;

const BUILTIN_BOOK: &str = include_str!("../data/prices.toml");

/// The environment variables a deployment states its choices in.
pub mod env {
    pub const REGION: &str = "LIKENESS_PRICE_REGION";
    /// Set by the Lambda runtime and ECS; the fallback for [`REGION`].
    pub const AWS_REGION: &str = "AWS_REGION";
    pub const GPU_INSTANCE_TYPE: &str = "LIKENESS_GPU_INSTANCE_TYPE";
    pub const GPU_PURCHASE: &str = "LIKENESS_GPU_PURCHASE";
    pub const GPU_SPOT_USD_PER_HOUR: &str = "LIKENESS_GPU_SPOT_USD_PER_HOUR";
    pub const LAMBDA_ARCHITECTURE: &str = "LIKENESS_LAMBDA_ARCHITECTURE";
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Purchase {
    OnDemand,
    /// `None`: the price was not stated; priced at the on-demand ceiling.
    Spot {
        usd_per_hour: Option<f64>,
    },
}

/// What a deployment runs on, as far as its prices go.
#[derive(Clone, Debug, PartialEq)]
pub struct Deployment {
    pub region: String,
    pub gpu_instance_type: String,
    pub purchase: Purchase,
    /// `arm64` or `x86_64`, as Lambda names them.
    pub lambda_architecture: String,
}

impl Default for Deployment {
    /// The one-machine stack's line: us-east-1 (the book's fully sourced
    /// region), the template's default instance type on demand, arm64.
    fn default() -> Self {
        Self {
            region: "us-east-1".into(),
            gpu_instance_type: "g5.xlarge".into(),
            purchase: Purchase::OnDemand,
            lambda_architecture: "arm64".into(),
        }
    }
}

impl Deployment {
    /// The deployment's choices from variables (`get` is `std::env::var` at
    /// the edges); an unset variable keeps [`Deployment::default`]'s choice.
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Self, CostError> {
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let mut d = Self::default();
        if let Some(region) = get(env::REGION).or_else(|| get(env::AWS_REGION)) {
            d.region = region;
        }
        if let Some(instance) = get(env::GPU_INSTANCE_TYPE) {
            d.gpu_instance_type = instance;
        }
        if let Some(arch) = get(env::LAMBDA_ARCHITECTURE) {
            d.lambda_architecture = arch;
        }
        let spot_price = match get(env::GPU_SPOT_USD_PER_HOUR) {
            None => None,
            Some(v) => Some(
                v.trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|p| p.is_finite() && *p > 0.0)
                    .ok_or_else(|| {
                        CostError::Invalid(format!(
                            "{} = `{v}`: expected a price in USD per instance-hour, e.g. 0.45",
                            env::GPU_SPOT_USD_PER_HOUR
                        ))
                    })?,
            ),
        };
        d.purchase = match get(env::GPU_PURCHASE).as_deref() {
            None | Some("on-demand" | "on_demand") if spot_price.is_none() => Purchase::OnDemand,
            None | Some("on-demand" | "on_demand") => {
                return Err(CostError::Invalid(format!(
                    "{} is set but {} is not `spot`",
                    env::GPU_SPOT_USD_PER_HOUR,
                    env::GPU_PURCHASE
                )));
            }
            Some("spot") => Purchase::Spot {
                usd_per_hour: spot_price,
            },
            Some(other) => {
                return Err(CostError::Invalid(format!(
                    "{} = `{other}`: expected `spot` or `on-demand`",
                    env::GPU_PURCHASE
                )));
            }
        };
        Ok(d)
    }
}

#[derive(Clone, Debug, Deserialize)]
struct Region {
    /// Regional list prices of every meter but the two a deployment chooses.
    prices: BTreeMap<String, Price>,
    /// Lambda duration by architecture.
    lambda_gb_second: BTreeMap<String, Price>,
    /// Instance-hours by instance type, then purchase option (`on_demand`).
    gpu_hour: BTreeMap<String, BTreeMap<String, Price>>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct PriceBook {
    pub version: String,
    energy: EnergyModel,
    regions: BTreeMap<String, Region>,
}

impl PriceBook {
    /// The book shipped in `shared/core/data/prices.toml`.
    pub fn builtin() -> Self {
        Self::from_toml(BUILTIN_BOOK).expect("the shipped price book is valid (tested)")
    }

    pub fn from_toml(text: &str) -> Result<Self, CostError> {
        let book: PriceBook = toml::from_str(text).map_err(|e| CostError::Parse(e.to_string()))?;
        if book.version.trim().is_empty() {
            return Err(CostError::Invalid("version must not be empty".into()));
        }
        Ok(book)
    }

    pub fn regions(&self) -> impl Iterator<Item = &str> {
        self.regions.keys().map(String::as_str)
    }

    /// The table for `d`. Every line a deployment needs must be in the book:
    /// a missing one is an error that names it, never another region's price.
    pub fn select(&self, d: &Deployment) -> Result<PriceTable, CostError> {
        let missing = |what: String| CostError::MissingPrice {
            version: self.version.clone(),
            meter: what,
        };
        let region = self
            .regions
            .get(&d.region)
            .ok_or_else(|| missing(format!("region {}", d.region)))?;
        let mut prices = region.prices.clone();
        let lambda = region
            .lambda_gb_second
            .get(&d.lambda_architecture)
            .ok_or_else(|| {
                missing(format!(
                    "{} ({} Lambda in {})",
                    meters::LAMBDA_GB_SECOND,
                    d.lambda_architecture,
                    d.region
                ))
            })?;
        prices.insert(meters::LAMBDA_GB_SECOND.into(), lambda.clone());
        let on_demand = region
            .gpu_hour
            .get(&d.gpu_instance_type)
            .and_then(|p| p.get("on_demand"));
        let (hourly, purchase, source) = match (d.purchase, on_demand) {
            (
                Purchase::Spot {
                    usd_per_hour: Some(p),
                },
                _,
            ) => (
                p,
                format!("spot@{p}"),
                format!(
                    "{} spot in {}, ${p}/h as the deployment states it ({})",
                    d.gpu_instance_type,
                    d.region,
                    env::GPU_SPOT_USD_PER_HOUR
                ),
            ),
            (Purchase::Spot { usd_per_hour: None }, Some(od)) => (
                od.usd,
                "spot-at-on-demand-ceiling".to_string(),
                format!(
                    "{} spot with no stated price ({} unset): priced at the on-demand ceiling; {}",
                    d.gpu_instance_type,
                    env::GPU_SPOT_USD_PER_HOUR,
                    od.source
                ),
            ),
            (Purchase::OnDemand, Some(od)) => (
                od.usd,
                "on-demand".to_string(),
                format!("{} on-demand: {}", d.gpu_instance_type, od.source),
            ),
            (_, None) => {
                return Err(missing(format!(
                    "{} on-demand instance-hour in {}",
                    d.gpu_instance_type, d.region
                )));
            }
        };
        prices.insert(
            meters::GPU_SECOND.into(),
            Price {
                usd: hourly / 3600.0,
                unit: "GPU-second".into(),
                source,
            },
        );
        let table = PriceTable {
            version: format!(
                "{}/{}/{}/{}/{}",
                self.version, d.region, d.gpu_instance_type, purchase, d.lambda_architecture
            ),
            region: d.region.clone(),
            energy: self.energy.clone(),
            prices,
        };
        table.validate()?;
        Ok(table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn every_region_of_the_shipped_book_prices_every_meter_for_its_instances() {
        let book = PriceBook::builtin();
        assert!(book.regions().count() >= 2);
        for region in book.regions() {
            for arch in ["arm64", "x86_64"] {
                let d = Deployment {
                    region: region.into(),
                    lambda_architecture: arch.into(),
                    ..Deployment::default()
                };
                let table = book.select(&d).unwrap();
                for meter in meters::ALL {
                    assert!(!table.prices[meter].source.is_empty(), "{region} {meter}");
                }
            }
        }
    }

    #[test]
    fn the_template_deployment_selects_arm64_and_the_stated_spot_price() {
        let book = PriceBook::builtin();
        let d = Deployment::from_vars(vars(&[
            ("AWS_REGION", "eu-west-1"),
            (env::GPU_INSTANCE_TYPE, "g5.xlarge"),
            (env::GPU_PURCHASE, "spot"),
            (env::GPU_SPOT_USD_PER_HOUR, "0.45"),
            (env::LAMBDA_ARCHITECTURE, "arm64"),
        ]))
        .unwrap();
        let table = book.select(&d).unwrap();
        assert_eq!(table.region, "eu-west-1");
        assert!((table.prices[meters::GPU_SECOND].usd - 0.45 / 3600.0).abs() < 1e-15);
        assert_eq!(table.prices[meters::LAMBDA_GB_SECOND].usd, 0.0000133334);
        assert!(
            table
                .version
                .ends_with("/eu-west-1/g5.xlarge/spot@0.45/arm64")
        );
        // x86 Lambda is dearer than arm64, on-demand dearer than the spot price.
        let x86 = book
            .select(&Deployment {
                lambda_architecture: "x86_64".into(),
                purchase: Purchase::OnDemand,
                ..d.clone()
            })
            .unwrap();
        assert!(x86.prices[meters::LAMBDA_GB_SECOND].usd > 0.0000133334);
        assert!(x86.prices[meters::GPU_SECOND].usd > 0.45 / 3600.0);
        // Without a stated spot price: the on-demand ceiling, and the version says so.
        let ceiling = book
            .select(&Deployment {
                purchase: Purchase::Spot { usd_per_hour: None },
                ..d
            })
            .unwrap();
        assert_eq!(
            ceiling.prices[meters::GPU_SECOND].usd,
            x86.prices[meters::GPU_SECOND].usd
        );
        assert!(ceiling.version.contains("spot-at-on-demand-ceiling"));
    }

    #[test]
    fn unknown_lines_and_bad_variables_are_named() {
        let book = PriceBook::builtin();
        let err = book
            .select(&Deployment {
                region: "ap-south-2".into(),
                ..Deployment::default()
            })
            .unwrap_err();
        assert!(err.to_string().contains("ap-south-2"), "{err}");
        let err = book
            .select(&Deployment {
                gpu_instance_type: "p5.48xlarge".into(),
                ..Deployment::default()
            })
            .unwrap_err();
        assert!(err.to_string().contains("p5.48xlarge"), "{err}");
        for bad in [
            vec![(env::GPU_PURCHASE, "reserved")],
            vec![
                (env::GPU_PURCHASE, "spot"),
                (env::GPU_SPOT_USD_PER_HOUR, "cheap"),
            ],
            vec![(env::GPU_SPOT_USD_PER_HOUR, "0.4")],
        ] {
            assert!(Deployment::from_vars(vars(&bad)).is_err(), "{bad:?}");
        }
        assert_eq!(
            Deployment::from_vars(vars(&[])).unwrap(),
            Deployment::default()
        );
    }
}
