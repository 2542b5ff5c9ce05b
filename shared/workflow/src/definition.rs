//! Loading a definition: `${...}` substitutions, then compilation of every
//! state into a checked form, so a bad definition fails at load with the
//! state's name rather than halfway through an execution.

use crate::choice::Rule;
use crate::error::LoadError;
use crate::path::JsonPath;
use crate::template::Template;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// `InputPath`/`OutputPath`/`ResultPath`: absent, explicitly `null`, or a path.
#[derive(Clone, Debug)]
pub enum PathField {
    Default,
    Null,
    Path(JsonPath),
}

/// A number given literally or read from the input (`...Path` variants).
#[derive(Clone, Debug)]
pub enum Number {
    Fixed(f64),
    Path(JsonPath),
}

#[derive(Clone, Debug)]
pub struct Retrier {
    pub errors: Vec<String>,
    pub interval_seconds: f64,
    pub max_attempts: u32,
    pub backoff_rate: f64,
    pub max_delay_seconds: Option<f64>,
}

#[derive(Clone, Debug)]
pub struct Catcher {
    pub errors: Vec<String>,
    pub result_path: PathField,
    pub next: String,
}

#[derive(Clone, Debug)]
pub struct TaskSpec {
    pub resource: String,
    pub timeout: Option<Number>,
    pub heartbeat: Option<Number>,
}

#[derive(Clone, Debug)]
pub struct MapSpec {
    pub items_path: Option<JsonPath>,
    pub item_selector: Option<Template>,
    pub max_concurrency: Number,
    pub processor: Arc<Machine>,
}

#[derive(Clone, Debug)]
pub enum WaitSpec {
    Seconds(f64),
    SecondsPath(JsonPath),
    Timestamp(DateTime<Utc>),
    TimestampPath(JsonPath),
}

#[derive(Clone, Debug)]
pub struct FailSpec {
    pub error: Option<String>,
    pub cause: Option<String>,
    pub error_path: Option<JsonPath>,
    pub cause_path: Option<JsonPath>,
}

#[derive(Clone, Debug)]
pub enum Kind {
    Pass {
        result: Option<Value>,
    },
    Task(TaskSpec),
    Choice {
        choices: Vec<(Rule, String)>,
        default: Option<String>,
    },
    Wait(WaitSpec),
    Succeed,
    Fail(FailSpec),
    Map(MapSpec),
}

impl Kind {
    /// The `Type` name, as history events use it (`TaskStateEntered`).
    pub fn type_name(&self) -> &'static str {
        match self {
            Kind::Pass { .. } => "Pass",
            Kind::Task(_) => "Task",
            Kind::Choice { .. } => "Choice",
            Kind::Wait(_) => "Wait",
            Kind::Succeed => "Succeed",
            Kind::Fail(_) => "Fail",
            Kind::Map(_) => "Map",
        }
    }
}

#[derive(Clone, Debug)]
pub struct State {
    pub name: String,
    pub kind: Kind,
    /// `None` for terminal states (`End: true`, Succeed, Fail, Choice).
    pub next: Option<String>,
    pub input_path: PathField,
    pub output_path: PathField,
    pub result_path: PathField,
    pub parameters: Option<Template>,
    pub result_selector: Option<Template>,
    pub retry: Vec<Retrier>,
    pub catch: Vec<Catcher>,
}

#[derive(Clone, Debug)]
pub struct Machine {
    pub start_at: String,
    pub states: HashMap<String, State>,
}

/// A loaded, checked definition.
#[derive(Clone, Debug)]
pub struct Definition {
    pub root: Arc<Machine>,
    /// The JSON after substitution, kept for diagnostics.
    pub json: Value,
}

/// Replaces every `${Name}` with its value, as SAM's `DefinitionSubstitutions` does.
pub fn substitute(text: &str, values: &BTreeMap<String, String>) -> Result<String, LoadError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| LoadError::invalid("substitutions", "'${' without a closing '}'"))?;
        let name = &after[..end];
        let value = values
            .get(name)
            .ok_or_else(|| LoadError::MissingSubstitution(name.to_string()))?;
        out.push_str(value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

impl Definition {
    /// Parses `text` after applying `substitutions`.
    pub fn load(text: &str, substitutions: &BTreeMap<String, String>) -> Result<Self, LoadError> {
        let json: Value = serde_json::from_str(&substitute(text, substitutions)?)?;
        let root = compile_machine(&json, "$")?;
        Ok(Self {
            root: Arc::new(root),
            json,
        })
    }
}

fn obj<'a>(v: &'a Value, at: &str) -> Result<&'a Map<String, Value>, LoadError> {
    v.as_object()
        .ok_or_else(|| LoadError::invalid(at, "must be an object"))
}

fn compile_machine(v: &Value, at: &str) -> Result<Machine, LoadError> {
    let m = obj(v, at)?;
    if let Some(q) = m.get("QueryLanguage").and_then(Value::as_str)
        && q != "JSONPath"
    {
        return Err(LoadError::invalid(
            at,
            format!("QueryLanguage {q:?} is not supported; only JSONPath"),
        ));
    }
    let start_at = m
        .get("StartAt")
        .and_then(Value::as_str)
        .ok_or_else(|| LoadError::invalid(at, "StartAt is missing"))?
        .to_string();
    let states_json = obj(
        m.get("States")
            .ok_or_else(|| LoadError::invalid(at, "States is missing"))?,
        &format!("{at}.States"),
    )?;
    let mut states = HashMap::new();
    for (name, sv) in states_json {
        let s = compile_state(name, sv, &format!("{at}.States.{name}"))?;
        states.insert(name.clone(), s);
    }
    let machine = Machine { start_at, states };
    check_targets(&machine, at)?;
    Ok(machine)
}

fn check_targets(m: &Machine, at: &str) -> Result<(), LoadError> {
    let exists = |t: &str, from: &str| {
        if m.states.contains_key(t) {
            Ok(())
        } else {
            Err(LoadError::invalid(
                from,
                format!("transition to unknown state {t:?}"),
            ))
        }
    };
    exists(&m.start_at, &format!("{at}.StartAt"))?;
    for s in m.states.values() {
        let here = format!("{at}.States.{}", s.name);
        if let Some(n) = &s.next {
            exists(n, &here)?;
        }
        for c in &s.catch {
            exists(&c.next, &here)?;
        }
        if let Kind::Choice { choices, default } = &s.kind {
            for (_, n) in choices {
                exists(n, &here)?;
            }
            if let Some(d) = default {
                exists(d, &here)?;
            }
        }
    }
    Ok(())
}

fn path_field(m: &Map<String, Value>, key: &str, at: &str) -> Result<PathField, LoadError> {
    match m.get(key) {
        None => Ok(PathField::Default),
        Some(Value::Null) => Ok(PathField::Null),
        Some(Value::String(s)) => JsonPath::parse(s)
            .map(PathField::Path)
            .map_err(|e| LoadError::invalid(format!("{at}.{key}"), e)),
        Some(_) => Err(LoadError::invalid(
            format!("{at}.{key}"),
            "must be a path or null",
        )),
    }
}

fn opt_path(m: &Map<String, Value>, key: &str, at: &str) -> Result<Option<JsonPath>, LoadError> {
    match m.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => JsonPath::parse(s)
            .map(Some)
            .map_err(|e| LoadError::invalid(format!("{at}.{key}"), e)),
        Some(_) => Err(LoadError::invalid(
            format!("{at}.{key}"),
            "must be a path string",
        )),
    }
}

fn number(m: &Map<String, Value>, key: &str, at: &str) -> Result<Option<Number>, LoadError> {
    let path_key = format!("{key}Path");
    match (m.get(key), opt_path(m, &path_key, at)?) {
        (Some(_), Some(_)) => Err(LoadError::invalid(
            at,
            format!("{key} and {path_key} are exclusive"),
        )),
        (Some(v), None) => v
            .as_f64()
            .filter(|f| *f >= 0.0)
            .map(|f| Some(Number::Fixed(f)))
            .ok_or_else(|| {
                LoadError::invalid(format!("{at}.{key}"), "must be a non-negative number")
            }),
        (None, Some(p)) => Ok(Some(Number::Path(p))),
        (None, None) => Ok(None),
    }
}

fn template(m: &Map<String, Value>, key: &str, at: &str) -> Result<Option<Template>, LoadError> {
    m.get(key)
        .map(|v| {
            Template::compile(v, &format!("{at}.{key}")).map_err(|e| LoadError::invalid(at, e))
        })
        .transpose()
}

fn error_list(v: &Map<String, Value>, at: &str) -> Result<Vec<String>, LoadError> {
    let list = v
        .get("ErrorEquals")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| LoadError::invalid(at, "ErrorEquals must be a non-empty array"))?;
    list.iter()
        .map(|e| {
            e.as_str()
                .map(str::to_string)
                .ok_or_else(|| LoadError::invalid(at, "ErrorEquals holds strings"))
        })
        .collect()
}

fn compile_state(name: &str, v: &Value, at: &str) -> Result<State, LoadError> {
    let m = obj(v, at)?;
    let ty = m
        .get("Type")
        .and_then(Value::as_str)
        .ok_or_else(|| LoadError::invalid(at, "Type is missing"))?;
    let kind = match ty {
        "Pass" => Kind::Pass {
            result: m.get("Result").cloned(),
        },
        "Task" => Kind::Task(TaskSpec {
            resource: m
                .get("Resource")
                .and_then(Value::as_str)
                .ok_or_else(|| LoadError::invalid(at, "Resource is missing"))?
                .to_string(),
            timeout: number(m, "TimeoutSeconds", at)?,
            heartbeat: number(m, "HeartbeatSeconds", at)?,
        }),
        "Choice" => {
            let list = m
                .get("Choices")
                .and_then(Value::as_array)
                .filter(|a| !a.is_empty())
                .ok_or_else(|| LoadError::invalid(at, "Choices must be a non-empty array"))?;
            let mut choices = Vec::new();
            for (i, c) in list.iter().enumerate() {
                let here = format!("{at}.Choices[{i}]");
                let co = obj(c, &here)?;
                let next = co
                    .get("Next")
                    .and_then(Value::as_str)
                    .ok_or_else(|| LoadError::invalid(&here, "Next is missing"))?;
                let rule = Rule::compile(co, &here).map_err(|e| LoadError::invalid(&here, e))?;
                choices.push((rule, next.to_string()));
            }
            let default = m.get("Default").and_then(Value::as_str).map(str::to_string);
            Kind::Choice { choices, default }
        }
        "Wait" => {
            let specs = [
                m.get("Seconds").map(|v| {
                    v.as_f64()
                        .filter(|f| *f >= 0.0)
                        .map(WaitSpec::Seconds)
                        .ok_or_else(|| {
                            LoadError::invalid(at, "Seconds must be a non-negative number")
                        })
                }),
                opt_path(m, "SecondsPath", at)?.map(|p| Ok(WaitSpec::SecondsPath(p))),
                m.get("Timestamp").map(|v| {
                    v.as_str()
                        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                        .map(|t| WaitSpec::Timestamp(t.with_timezone(&Utc)))
                        .ok_or_else(|| LoadError::invalid(at, "Timestamp must be an RFC 3339 time"))
                }),
                opt_path(m, "TimestampPath", at)?.map(|p| Ok(WaitSpec::TimestampPath(p))),
            ];
            let mut given: Vec<_> = specs.into_iter().flatten().collect();
            if given.len() != 1 {
                return Err(LoadError::invalid(
                    at,
                    "Wait needs exactly one of Seconds, SecondsPath, Timestamp, TimestampPath",
                ));
            }
            Kind::Wait(given.remove(0)?)
        }
        "Succeed" => Kind::Succeed,
        "Fail" => {
            let s = |k: &str| m.get(k).and_then(Value::as_str).map(str::to_string);
            Kind::Fail(FailSpec {
                error: s("Error"),
                cause: s("Cause"),
                error_path: opt_path(m, "ErrorPath", at)?,
                cause_path: opt_path(m, "CausePath", at)?,
            })
        }
        "Map" => {
            let proc_json = m
                .get("ItemProcessor")
                .or_else(|| m.get("Iterator"))
                .ok_or_else(|| LoadError::invalid(at, "Map needs ItemProcessor (or Iterator)"))?;
            if let Some(mode) = proc_json
                .get("ProcessorConfig")
                .and_then(|c| c.get("Mode"))
                .and_then(Value::as_str)
                && mode != "INLINE"
            {
                return Err(LoadError::invalid(
                    at,
                    format!("Map mode {mode:?} is not supported; only INLINE"),
                ));
            }
            let selector = template(m, "ItemSelector", at)?;
            let legacy = if selector.is_none() {
                template(m, "Parameters", at)?
            } else {
                None
            };
            Kind::Map(MapSpec {
                items_path: opt_path(m, "ItemsPath", at)?,
                item_selector: selector.or(legacy),
                max_concurrency: number(m, "MaxConcurrency", at)?.unwrap_or(Number::Fixed(0.0)),
                processor: Arc::new(compile_machine(proc_json, &format!("{at}.ItemProcessor"))?),
            })
        }
        other => {
            return Err(LoadError::invalid(
                at,
                format!("state type {other:?} is not supported"),
            ));
        }
    };
    let terminal = matches!(kind, Kind::Succeed | Kind::Fail(_) | Kind::Choice { .. });
    let next = m.get("Next").and_then(Value::as_str).map(str::to_string);
    let end = m.get("End").and_then(Value::as_bool).unwrap_or(false);
    if !terminal && next.is_some() == end {
        return Err(LoadError::invalid(
            at,
            "needs exactly one of Next or End: true",
        ));
    }
    let mut retry = Vec::new();
    for (i, r) in m
        .get("Retry")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let here = format!("{at}.Retry[{i}]");
        let ro = obj(r, &here)?;
        let f = |k: &str, d: f64| ro.get(k).map(|v| v.as_f64().unwrap_or(-1.0)).unwrap_or(d);
        let rr = Retrier {
            errors: error_list(ro, &here)?,
            interval_seconds: f("IntervalSeconds", 1.0),
            max_attempts: f("MaxAttempts", 3.0) as u32,
            backoff_rate: f("BackoffRate", 2.0),
            max_delay_seconds: ro.get("MaxDelaySeconds").and_then(Value::as_f64),
        };
        if rr.interval_seconds < 0.0 || rr.backoff_rate < 1.0 {
            return Err(LoadError::invalid(
                here,
                "IntervalSeconds must be >= 0 and BackoffRate >= 1",
            ));
        }
        retry.push(rr);
    }
    let mut catch = Vec::new();
    for (i, c) in m
        .get("Catch")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let here = format!("{at}.Catch[{i}]");
        let co = obj(c, &here)?;
        catch.push(Catcher {
            errors: error_list(co, &here)?,
            result_path: path_field(co, "ResultPath", &here)?,
            next: co
                .get("Next")
                .and_then(Value::as_str)
                .ok_or_else(|| LoadError::invalid(&here, "Next is missing"))?
                .to_string(),
        });
    }
    let result_path = path_field(m, "ResultPath", at)?;
    if let PathField::Path(p) = &result_path
        && !p.is_reference()
    {
        return Err(LoadError::invalid(
            at,
            "ResultPath must be a reference path",
        ));
    }
    Ok(State {
        name: name.to_string(),
        next: if terminal { None } else { next },
        input_path: path_field(m, "InputPath", at)?,
        output_path: path_field(m, "OutputPath", at)?,
        result_path,
        parameters: if matches!(kind, Kind::Map(_)) {
            None
        } else {
            template(m, "Parameters", at)?
        },
        result_selector: template(m, "ResultSelector", at)?,
        retry,
        catch,
        kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn substitutes_and_reports_missing_values() {
        assert_eq!(
            substitute("a ${X} b ${Y}", &subs(&[("X", "1"), ("Y", "2")])).unwrap(),
            "a 1 b 2"
        );
        match substitute("${Nope}", &subs(&[])) {
            Err(LoadError::MissingSubstitution(n)) => assert_eq!(n, "Nope"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rejects_dangling_transitions_and_unsupported_types() {
        let bad = r#"{"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}}}"#;
        assert!(
            Definition::load(bad, &subs(&[]))
                .unwrap_err()
                .to_string()
                .contains("unknown state \"B\"")
        );
        let par = r#"{"StartAt": "A", "States": {"A": {"Type": "Parallel", "End": true}}}"#;
        assert!(
            Definition::load(par, &subs(&[]))
                .unwrap_err()
                .to_string()
                .contains("not supported")
        );
        let both = r#"{"StartAt": "A", "States": {"A": {"Type": "Pass"}}}"#;
        assert!(
            Definition::load(both, &subs(&[]))
                .unwrap_err()
                .to_string()
                .contains("Next or End")
        );
    }

    #[test]
    fn the_project_definition_loads() {
        let text = include_str!("../../../infra/statemachine/preview.asl.json");
        let values = crate::testing_substitutions();
        let d = Definition::load(text, &values).unwrap();
        assert_eq!(d.root.start_at, "Configure");
        assert!(matches!(d.root.states["RenderStyles"].kind, Kind::Map(_)));
    }
}
