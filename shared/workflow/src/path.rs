//! The JSONPath subset Step Functions paths use: `$`, `.name`, `['name']`,
//! `[index]` (negative from the end) and `[*]`. `$$` addresses the context object.

use crate::error::StatesError;
use serde_json::{Map, Value};

#[derive(Clone, Debug, PartialEq)]
enum Segment {
    Field(String),
    Index(i64),
    Wildcard,
}

#[derive(Clone, Debug, PartialEq)]
pub struct JsonPath {
    text: String,
    /// `$$...`: evaluated against the context object instead of the state input.
    pub context: bool,
    segments: Vec<Segment>,
}

impl std::fmt::Display for JsonPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl JsonPath {
    pub fn parse(text: &str) -> Result<Self, String> {
        let (context, rest) = if let Some(r) = text.strip_prefix("$$") {
            (true, r)
        } else if let Some(r) = text.strip_prefix('$') {
            (false, r)
        } else {
            return Err(format!("path {text:?} must start with '$'"));
        };
        let chars: Vec<char> = rest.chars().collect();
        let mut i = 0;
        let mut segments = Vec::new();
        while i < chars.len() {
            match chars[i] {
                '.' => {
                    i += 1;
                    let start = i;
                    while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
                        i += 1;
                    }
                    let name: String = chars[start..i].iter().collect();
                    if name.is_empty() {
                        return Err(format!("path {text:?} has an empty field name"));
                    }
                    if name == "*" {
                        segments.push(Segment::Wildcard);
                    } else {
                        segments.push(Segment::Field(name));
                    }
                }
                '[' => {
                    let close = chars[i..]
                        .iter()
                        .position(|c| *c == ']')
                        .map(|p| p + i)
                        .ok_or_else(|| format!("path {text:?} has an unclosed '['"))?;
                    let inner: String = chars[i + 1..close].iter().collect();
                    let inner = inner.trim();
                    if inner == "*" {
                        segments.push(Segment::Wildcard);
                    } else if let Some(q) = inner
                        .strip_prefix('\'')
                        .and_then(|s| s.strip_suffix('\''))
                        .or_else(|| inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')))
                    {
                        segments.push(Segment::Field(q.to_string()));
                    } else {
                        let n: i64 = inner.parse().map_err(|_| {
                            format!("path {text:?}: unsupported selector [{inner}]")
                        })?;
                        segments.push(Segment::Index(n));
                    }
                    i = close + 1;
                }
                c => return Err(format!("path {text:?}: unexpected character {c:?}")),
            }
        }
        Ok(Self {
            text: text.to_string(),
            context,
            segments,
        })
    }

    /// A reference path (ResultPath) names exactly one place: no wildcards.
    pub fn is_reference(&self) -> bool {
        !self.context && !self.segments.contains(&Segment::Wildcard)
    }

    /// `None` when the path selects nothing.
    pub fn get(&self, root: &Value) -> Option<Value> {
        let wildcard = self.segments.contains(&Segment::Wildcard);
        let mut current = vec![root.clone()];
        for seg in &self.segments {
            let mut next = Vec::new();
            for v in current {
                match (seg, v) {
                    (Segment::Field(name), Value::Object(mut m)) => {
                        if let Some(x) = m.remove(name) {
                            next.push(x);
                        }
                    }
                    (Segment::Index(n), Value::Array(mut a)) => {
                        let len = a.len() as i64;
                        let idx = if *n < 0 { len + n } else { *n };
                        if (0..len).contains(&idx) {
                            next.push(a.swap_remove(idx as usize));
                        }
                    }
                    (Segment::Wildcard, Value::Array(a)) => next.extend(a),
                    (Segment::Wildcard, Value::Object(m)) => {
                        next.extend(m.into_iter().map(|(_, v)| v))
                    }
                    _ => {}
                }
            }
            current = next;
        }
        if wildcard {
            Some(Value::Array(current))
        } else {
            current.into_iter().next()
        }
    }

    /// Like [`get`](Self::get) but a miss is the error Step Functions raises.
    pub fn require(&self, root: &Value, error: &str) -> Result<Value, StatesError> {
        self.get(root).ok_or_else(|| {
            StatesError::new(
                error,
                format!(
                    "The JSONPath '{}' could not be found in the input '{}'",
                    self.text, root
                ),
            )
        })
    }

    /// Writes `value` at this reference path inside `root`, creating objects on the way.
    pub fn set(&self, root: Value, value: Value) -> Result<Value, StatesError> {
        if self.segments.is_empty() {
            return Ok(value);
        }
        let mut root = root;
        let mut slot = &mut root;
        for seg in &self.segments {
            slot = match seg {
                Segment::Field(name) => {
                    if slot.is_null() {
                        *slot = Value::Object(Map::new());
                    }
                    match slot {
                        Value::Object(m) => m.entry(name.clone()).or_insert(Value::Null),
                        other => {
                            return Err(StatesError::new(
                                crate::error::names::RESULT_PATH_MATCH_FAILURE,
                                format!(
                                    "Unable to apply ResultPath '{}': '{}' is not an object",
                                    self.text, other
                                ),
                            ));
                        }
                    }
                }
                Segment::Index(n) => match slot {
                    Value::Array(a) if *n >= 0 && (*n as usize) < a.len() => &mut a[*n as usize],
                    _ => {
                        return Err(StatesError::new(
                            crate::error::names::RESULT_PATH_MATCH_FAILURE,
                            format!(
                                "Unable to apply ResultPath '{}': index out of range",
                                self.text
                            ),
                        ));
                    }
                },
                Segment::Wildcard => {
                    return Err(StatesError::new(
                        crate::error::names::RESULT_PATH_MATCH_FAILURE,
                        format!("ResultPath '{}' may not contain wildcards", self.text),
                    ));
                }
            };
        }
        *slot = value;
        Ok(root)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_fields_indices_and_wildcards() {
        let doc = json!({"a": {"b": [1, 2, {"c": "x"}]}, "odd key": 5});
        let p = |s| JsonPath::parse(s).unwrap();
        assert_eq!(p("$").get(&doc), Some(doc.clone()));
        assert_eq!(p("$.a.b[1]").get(&doc), Some(json!(2)));
        assert_eq!(p("$.a.b[-1].c").get(&doc), Some(json!("x")));
        assert_eq!(p("$['odd key']").get(&doc), Some(json!(5)));
        assert_eq!(p("$.a.b[*]").get(&doc), Some(json!([1, 2, {"c": "x"}])));
        assert_eq!(p("$.missing").get(&doc), None);
        assert!(p("$$.Task.Token").context);
    }

    #[test]
    fn rejects_malformed_paths() {
        assert!(JsonPath::parse("a.b").is_err());
        assert!(JsonPath::parse("$.a[").is_err());
        assert!(JsonPath::parse("$..").is_err());
        assert!(JsonPath::parse("$.a[x]").is_err());
    }

    #[test]
    fn sets_nested_values_creating_objects() {
        let p = JsonPath::parse("$.x.y").unwrap();
        assert_eq!(
            p.set(json!({"k": 1}), json!(true)).unwrap(),
            json!({"k": 1, "x": {"y": true}})
        );
        let err = p.set(json!({"x": 3}), json!(1)).unwrap_err();
        assert_eq!(err.error, "States.ResultPathMatchFailure");
        assert_eq!(
            JsonPath::parse("$")
                .unwrap()
                .set(json!(1), json!(2))
                .unwrap(),
            json!(2)
        );
    }
}
