//! Payload templates (`Parameters`, `ItemSelector`, `ResultSelector`): keys
//! ending in `.$` take their value from a path or an intrinsic function.

use crate::error::{StatesError, names};
use crate::intrinsic::{self, Call};
use crate::path::JsonPath;
use serde_json::{Map, Value};

#[derive(Clone, Debug)]
pub enum Template {
    Literal(Value),
    Object(Vec<(String, Template)>),
    Array(Vec<Template>),
    Path(JsonPath),
    Intrinsic(Call),
}

impl Template {
    pub fn compile(value: &Value, at: &str) -> Result<Self, String> {
        Ok(match value {
            Value::Object(m) => {
                let mut fields = Vec::with_capacity(m.len());
                for (k, v) in m {
                    if let Some(name) = k.strip_suffix(".$") {
                        let text = v.as_str().ok_or_else(|| {
                            format!(
                                "{at}.{k}: a '.$' field must hold a path or an intrinsic function"
                            )
                        })?;
                        let t = if intrinsic::is_intrinsic(text) {
                            Template::Intrinsic(intrinsic::parse(text)?)
                        } else {
                            Template::Path(
                                JsonPath::parse(text).map_err(|e| format!("{at}.{k}: {e}"))?,
                            )
                        };
                        fields.push((name.to_string(), t));
                    } else {
                        fields.push((k.clone(), Template::compile(v, &format!("{at}.{k}"))?));
                    }
                }
                Template::Object(fields)
            }
            Value::Array(a) => Template::Array(
                a.iter()
                    .enumerate()
                    .map(|(i, v)| Template::compile(v, &format!("{at}[{i}]")))
                    .collect::<Result<_, _>>()?,
            ),
            other => Template::Literal(other.clone()),
        })
    }

    pub fn eval(&self, input: &Value, context: &Value) -> Result<Value, StatesError> {
        Ok(match self {
            Template::Literal(v) => v.clone(),
            Template::Object(fields) => {
                let mut m = Map::new();
                for (k, t) in fields {
                    m.insert(k.clone(), t.eval(input, context)?);
                }
                Value::Object(m)
            }
            Template::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|t| t.eval(input, context))
                    .collect::<Result<_, _>>()?,
            ),
            Template::Path(p) => {
                p.require(if p.context { context } else { input }, names::RUNTIME)?
            }
            Template::Intrinsic(c) => c.eval(input, context)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn resolves_dollar_keys_recursively() {
        let t = Template::compile(
            &json!({"a": 1, "b.$": "$.x", "c": [{"d.$": "$$.Task.Token"}], "e.$": "States.MathAdd($.n, 1)"}),
            "Parameters",
        )
        .unwrap();
        let out = t
            .eval(
                &json!({"x": "y", "n": 1}),
                &json!({"Task": {"Token": "tok"}}),
            )
            .unwrap();
        assert_eq!(out, json!({"a": 1, "b": "y", "c": [{"d": "tok"}], "e": 2}));
    }

    #[test]
    fn missing_path_is_a_runtime_error() {
        let t = Template::compile(&json!({"b.$": "$.nope"}), "Parameters").unwrap();
        assert_eq!(
            t.eval(&json!({}), &json!({})).unwrap_err().error,
            "States.Runtime"
        );
        assert!(Template::compile(&json!({"b.$": 3}), "Parameters").is_err());
    }
}
