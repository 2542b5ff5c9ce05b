//! Choice rules: every comparison operator of the JSONPath dialect, the
//! `Is*` type tests and `And`/`Or`/`Not`.

use crate::error::StatesError;
use crate::path::JsonPath;
use chrono::{DateTime, FixedOffset};
use serde_json::{Map, Value};
use std::cmp::Ordering;

#[derive(Clone, Debug)]
pub enum Rule {
    And(Vec<Rule>),
    Or(Vec<Rule>),
    Not(Box<Rule>),
    Compare {
        variable: JsonPath,
        op: Op,
        operand: Operand,
    },
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    String,
    Numeric,
    Boolean,
    Timestamp,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Op {
    Cmp(Kind, Cmp),
    StringMatches,
    IsNull,
    IsPresent,
    IsNumeric,
    IsString,
    IsBoolean,
    IsTimestamp,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Cmp {
    Eq,
    Lt,
    Gt,
    Le,
    Ge,
}

#[derive(Clone, Debug)]
pub enum Operand {
    Literal(Value),
    Path(JsonPath),
}

fn parse_op(name: &str) -> Option<(Op, bool)> {
    let (base, is_path) = match name.strip_suffix("Path") {
        Some(b) if name != "IsPresent" => (b, true),
        _ => (name, false),
    };
    let simple = match base {
        "StringMatches" => Some(Op::StringMatches),
        "IsNull" => Some(Op::IsNull),
        "IsPresent" => Some(Op::IsPresent),
        "IsNumeric" => Some(Op::IsNumeric),
        "IsString" => Some(Op::IsString),
        "IsBoolean" => Some(Op::IsBoolean),
        "IsTimestamp" => Some(Op::IsTimestamp),
        _ => None,
    };
    if let Some(op) = simple {
        return (!is_path).then_some((op, false));
    }
    for (prefix, kind) in [
        ("String", Kind::String),
        ("Numeric", Kind::Numeric),
        ("Boolean", Kind::Boolean),
        ("Timestamp", Kind::Timestamp),
    ] {
        if let Some(rest) = base.strip_prefix(prefix) {
            let cmp = match rest {
                "Equals" => Cmp::Eq,
                "LessThan" => Cmp::Lt,
                "GreaterThan" => Cmp::Gt,
                "LessThanEquals" => Cmp::Le,
                "GreaterThanEquals" => Cmp::Ge,
                _ => return None,
            };
            if kind == Kind::Boolean && cmp != Cmp::Eq {
                return None;
            }
            return Some((Op::Cmp(kind, cmp), is_path));
        }
    }
    None
}

impl Rule {
    pub fn compile(m: &Map<String, Value>, at: &str) -> Result<Self, String> {
        let list = |v: &Value, key: &str| -> Result<Vec<Rule>, String> {
            let items = v
                .as_array()
                .filter(|a| !a.is_empty())
                .ok_or_else(|| format!("{at}.{key} must be a non-empty array of rules"))?;
            items
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    let o = r
                        .as_object()
                        .ok_or_else(|| format!("{at}.{key}[{i}] must be an object"))?;
                    Rule::compile(o, &format!("{at}.{key}[{i}]"))
                })
                .collect()
        };
        if let Some(v) = m.get("And") {
            return Ok(Rule::And(list(v, "And")?));
        }
        if let Some(v) = m.get("Or") {
            return Ok(Rule::Or(list(v, "Or")?));
        }
        if let Some(v) = m.get("Not") {
            let o = v
                .as_object()
                .ok_or_else(|| format!("{at}.Not must be an object"))?;
            return Ok(Rule::Not(Box::new(Rule::compile(o, &format!("{at}.Not"))?)));
        }
        let variable = m
            .get("Variable")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("{at}: a rule needs Variable, And, Or or Not"))?;
        let variable = JsonPath::parse(variable).map_err(|e| format!("{at}.Variable: {e}"))?;
        let mut found = None;
        for (k, v) in m {
            if matches!(k.as_str(), "Variable" | "Next" | "Comment") {
                continue;
            }
            let (op, is_path) =
                parse_op(k).ok_or_else(|| format!("{at}: unknown comparison operator {k:?}"))?;
            if found.is_some() {
                return Err(format!("{at}: a rule holds exactly one comparison"));
            }
            let operand = if is_path {
                let p = v
                    .as_str()
                    .ok_or_else(|| format!("{at}.{k} must be a path string"))?;
                Operand::Path(JsonPath::parse(p).map_err(|e| format!("{at}.{k}: {e}"))?)
            } else {
                let ok = match op {
                    Op::Cmp(Kind::String | Kind::Timestamp, _) | Op::StringMatches => v.is_string(),
                    Op::Cmp(Kind::Numeric, _) => v.is_number(),
                    _ => v.is_boolean(),
                };
                if !ok {
                    return Err(format!("{at}.{k}: operand {v} has the wrong type"));
                }
                Operand::Literal(v.clone())
            };
            found = Some((op, operand));
        }
        let (op, operand) = found.ok_or_else(|| format!("{at}: no comparison operator"))?;
        Ok(Rule::Compare {
            variable,
            op,
            operand,
        })
    }

    pub fn eval(&self, input: &Value, context: &Value) -> Result<bool, StatesError> {
        let pick = |p: &JsonPath| p.get(if p.context { context } else { input });
        match self {
            Rule::And(rs) => {
                for r in rs {
                    if !r.eval(input, context)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Rule::Or(rs) => {
                for r in rs {
                    if r.eval(input, context)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Rule::Not(r) => Ok(!r.eval(input, context)?),
            Rule::Compare {
                variable,
                op,
                operand,
            } => {
                let value = pick(variable);
                let flag = match operand {
                    Operand::Literal(Value::Bool(b)) => *b,
                    _ => true,
                };
                if *op == Op::IsPresent {
                    return Ok(value.is_some() == flag);
                }
                let value = value.ok_or_else(|| {
                    StatesError::runtime(format!(
                        "Invalid path '{variable}': The choice state's condition path references an invalid value."
                    ))
                })?;
                let test = |b: bool| Ok(b == flag);
                match op {
                    Op::IsNull => test(value.is_null()),
                    Op::IsNumeric => test(value.is_number()),
                    Op::IsString => test(value.is_string()),
                    Op::IsBoolean => test(value.is_boolean()),
                    Op::IsTimestamp => test(value.as_str().and_then(timestamp).is_some()),
                    Op::IsPresent => unreachable!("handled above"),
                    Op::StringMatches => {
                        let pattern = literal_or_path(operand, &pick)?;
                        Ok(match (value.as_str(), pattern.as_str()) {
                            (Some(s), Some(p)) => wildcard_match(p, s),
                            _ => false,
                        })
                    }
                    Op::Cmp(kind, cmp) => {
                        let other = literal_or_path(operand, &pick)?;
                        Ok(compare(*kind, &value, &other).is_some_and(|o| holds(*cmp, o)))
                    }
                }
            }
        }
    }
}

fn literal_or_path(
    operand: &Operand,
    pick: &dyn Fn(&JsonPath) -> Option<Value>,
) -> Result<Value, StatesError> {
    match operand {
        Operand::Literal(v) => Ok(v.clone()),
        Operand::Path(p) => pick(p).ok_or_else(|| {
            StatesError::runtime(format!("Invalid path '{p}': The choice state's comparison path references an invalid value."))
        }),
    }
}

fn timestamp(s: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(s).ok()
}

/// `None` when the values are not both of the kind: the rule is then false, as in Step Functions.
fn compare(kind: Kind, a: &Value, b: &Value) -> Option<Ordering> {
    match kind {
        Kind::String => Some(a.as_str()?.cmp(b.as_str()?)),
        Kind::Numeric => a.as_f64()?.partial_cmp(&b.as_f64()?),
        Kind::Boolean => (a.as_bool()? == b.as_bool()?)
            .then_some(Ordering::Equal)
            .or(Some(Ordering::Less)),
        Kind::Timestamp => Some(timestamp(a.as_str()?)?.cmp(&timestamp(b.as_str()?)?)),
    }
}

fn holds(cmp: Cmp, o: Ordering) -> bool {
    match cmp {
        Cmp::Eq => o == Ordering::Equal,
        Cmp::Lt => o == Ordering::Less,
        Cmp::Gt => o == Ordering::Greater,
        Cmp::Le => o != Ordering::Greater,
        Cmp::Ge => o != Ordering::Less,
    }
}

/// `*` matches any run of characters; `\*` is a literal star.
fn wildcard_match(pattern: &str, s: &str) -> bool {
    #[derive(PartialEq)]
    enum Tok {
        Star,
        Ch(char),
    }
    let mut toks = Vec::new();
    let mut it = pattern.chars();
    while let Some(c) = it.next() {
        match c {
            '\\' => toks.push(Tok::Ch(it.next().unwrap_or('\\'))),
            '*' => toks.push(Tok::Star),
            c => toks.push(Tok::Ch(c)),
        }
    }
    let s: Vec<char> = s.chars().collect();
    // Classic two-pointer glob match with backtracking to the last star.
    let (mut p, mut i, mut star, mut mark) = (0usize, 0usize, None, 0usize);
    while i < s.len() {
        if p < toks.len() && toks[p] == Tok::Ch(s[i]) {
            p += 1;
            i += 1;
        } else if p < toks.len() && toks[p] == Tok::Star {
            star = Some(p);
            mark = i;
            p += 1;
        } else if let Some(sp) = star {
            p = sp + 1;
            mark += 1;
            i = mark;
        } else {
            return false;
        }
    }
    while p < toks.len() && toks[p] == Tok::Star {
        p += 1;
    }
    p == toks.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(v: Value) -> Rule {
        Rule::compile(v.as_object().unwrap(), "Choices[0]").unwrap()
    }

    #[test]
    fn comparisons_and_combinators() {
        let input = json!({"n": 3, "m": 5, "s": "retry", "b": true, "t": "2026-01-02T00:00:00Z", "z": null});
        let ctx = json!({});
        let yes = |v: Value| assert!(rule(v.clone()).eval(&input, &ctx).unwrap(), "{v}");
        let no = |v: Value| assert!(!rule(v.clone()).eval(&input, &ctx).unwrap(), "{v}");
        yes(json!({"Variable": "$.n", "NumericLessThanPath": "$.m"}));
        no(json!({"Variable": "$.m", "NumericLessThanPath": "$.n"}));
        yes(json!({"Variable": "$.n", "NumericGreaterThanEquals": 3}));
        yes(json!({"Variable": "$.s", "StringEquals": "retry"}));
        yes(json!({"Variable": "$.s", "StringMatches": "re*y"}));
        no(json!({"Variable": "$.s", "StringMatches": "re\\*y"}));
        yes(json!({"Variable": "$.b", "BooleanEquals": true}));
        yes(json!({"Variable": "$.t", "TimestampLessThan": "2026-02-01T00:00:00Z"}));
        yes(json!({"Variable": "$.z", "IsNull": true}));
        yes(json!({"Variable": "$.nope", "IsPresent": false}));
        no(json!({"Variable": "$.s", "NumericEquals": 1}));
        yes(
            json!({"And": [{"Variable": "$.n", "IsNumeric": true}, {"Not": {"Variable": "$.s", "StringEquals": "pass"}}]}),
        );
        yes(
            json!({"Or": [{"Variable": "$.n", "NumericEquals": 9}, {"Variable": "$.t", "IsTimestamp": true}]}),
        );
    }

    #[test]
    fn missing_variable_is_a_runtime_error_and_bad_rules_do_not_load() {
        let e = rule(json!({"Variable": "$.x", "StringEquals": "a"}))
            .eval(&json!({}), &json!({}))
            .unwrap_err();
        assert_eq!(e.error, "States.Runtime");
        let bad = |v: Value| Rule::compile(v.as_object().unwrap(), "c").unwrap_err();
        assert!(
            bad(json!({"Variable": "$.x", "StringEqualz": "a"})).contains("unknown comparison")
        );
        assert!(bad(json!({"Variable": "$.x", "NumericEquals": "a"})).contains("wrong type"));
        assert!(bad(json!({"And": []})).contains("non-empty"));
    }
}
