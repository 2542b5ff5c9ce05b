//! Intrinsic functions (`States.Format(...)` and friends), parsed at load and
//! evaluated against the state input and the context object.

use crate::error::{StatesError, names};
use crate::path::JsonPath;
use base64::Engine as _;
use serde_json::Value;

#[derive(Clone, Debug, PartialEq)]
pub enum Arg {
    Literal(Value),
    Path(JsonPath),
    Call(Call),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    pub name: String,
    pub args: Vec<Arg>,
}

const KNOWN: &[&str] = &[
    "States.Format",
    "States.StringToJson",
    "States.JsonToString",
    "States.Array",
    "States.ArrayLength",
    "States.ArrayGetItem",
    "States.ArrayContains",
    "States.ArrayRange",
    "States.MathAdd",
    "States.UUID",
    "States.StringSplit",
    "States.Base64Encode",
    "States.Base64Decode",
];

pub fn is_intrinsic(text: &str) -> bool {
    text.starts_with("States.")
}

pub fn parse(text: &str) -> Result<Call, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut p = Parser {
        chars,
        pos: 0,
        text,
    };
    let call = p.call()?;
    p.skip_ws();
    if p.pos != p.chars.len() {
        return Err(format!(
            "intrinsic {text:?}: unexpected text after the closing parenthesis"
        ));
    }
    Ok(call)
}

struct Parser<'a> {
    chars: Vec<char>,
    pos: usize,
    text: &'a str,
}

impl Parser<'_> {
    fn err(&self, what: &str) -> String {
        format!("intrinsic {:?} at offset {}: {what}", self.text, self.pos)
    }
    fn skip_ws(&mut self) {
        while self.pos < self.chars.len() && self.chars[self.pos].is_whitespace() {
            self.pos += 1;
        }
    }
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }
    fn call(&mut self) -> Result<Call, String> {
        self.skip_ws();
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c.is_alphanumeric() || c == '.' {
                self.pos += 1;
            } else {
                break;
            }
        }
        let name: String = self.chars[start..self.pos].iter().collect();
        if !KNOWN.contains(&name.as_str()) {
            return Err(self.err(&format!("unknown intrinsic function {name:?}")));
        }
        if self.peek() != Some('(') {
            return Err(self.err("expected '('"));
        }
        self.pos += 1;
        let mut args = Vec::new();
        self.skip_ws();
        if self.peek() == Some(')') {
            self.pos += 1;
            return Ok(Call { name, args });
        }
        loop {
            args.push(self.arg()?);
            self.skip_ws();
            match self.peek() {
                Some(',') => self.pos += 1,
                Some(')') => {
                    self.pos += 1;
                    return Ok(Call { name, args });
                }
                _ => return Err(self.err("expected ',' or ')'")),
            }
        }
    }
    fn arg(&mut self) -> Result<Arg, String> {
        self.skip_ws();
        match self.peek() {
            Some('\'') => {
                self.pos += 1;
                let mut s = String::new();
                loop {
                    match self.peek() {
                        None => return Err(self.err("unterminated string")),
                        Some('\\') => {
                            // Escapes keep their meaning for States.Format: `\{` stays escaped there.
                            let next = self.chars.get(self.pos + 1).copied();
                            match next {
                                Some(c @ ('\'' | '\\')) => s.push(c),
                                Some(c @ ('{' | '}')) => {
                                    s.push('\\');
                                    s.push(c);
                                }
                                _ => return Err(self.err("bad escape in string")),
                            }
                            self.pos += 2;
                        }
                        Some('\'') => {
                            self.pos += 1;
                            return Ok(Arg::Literal(Value::String(s)));
                        }
                        Some(c) => {
                            s.push(c);
                            self.pos += 1;
                        }
                    }
                }
            }
            Some('$') => {
                let start = self.pos;
                let mut depth = 0i32;
                let mut quote = false;
                while let Some(c) = self.peek() {
                    match c {
                        '\'' => quote = !quote,
                        '[' if !quote => depth += 1,
                        ']' if !quote => depth -= 1,
                        ',' | ')' if !quote && depth == 0 => break,
                        _ => {}
                    }
                    self.pos += 1;
                }
                let text: String = self.chars[start..self.pos].iter().collect();
                JsonPath::parse(text.trim())
                    .map(Arg::Path)
                    .map_err(|e| self.err(&e))
            }
            Some(c)
                if c.is_ascii_alphabetic() && self.chars[self.pos..].starts_with(&['S', 't']) =>
            {
                self.call().map(Arg::Call)
            }
            Some(_) => {
                let start = self.pos;
                while let Some(c) = self.peek() {
                    if c == ',' || c == ')' || c.is_whitespace() {
                        break;
                    }
                    self.pos += 1;
                }
                let word: String = self.chars[start..self.pos].iter().collect();
                serde_json::from_str::<Value>(&word)
                    .ok()
                    .filter(|v| v.is_number() || v.is_boolean() || v.is_null())
                    .map(Arg::Literal)
                    .ok_or_else(|| self.err(&format!("unexpected argument {word:?}")))
            }
            None => Err(self.err("unexpected end")),
        }
    }
}

fn fail(call: &str, msg: impl std::fmt::Display) -> StatesError {
    StatesError::new(names::INTRINSIC_FAILURE, format!("{call}: {msg}"))
}

impl Call {
    pub fn eval(&self, input: &Value, context: &Value) -> Result<Value, StatesError> {
        let args = self
            .args
            .iter()
            .map(|a| match a {
                Arg::Literal(v) => Ok(v.clone()),
                Arg::Path(p) => p.require(if p.context { context } else { input }, names::RUNTIME),
                Arg::Call(c) => c.eval(input, context),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let n = self.name.as_str();
        let want = |k: usize| {
            if args.len() == k {
                Ok(())
            } else {
                Err(fail(
                    n,
                    format!("expects {k} arguments, got {}", args.len()),
                ))
            }
        };
        let int = |v: &Value| {
            v.as_i64()
                .or_else(|| v.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
                .ok_or_else(|| fail(n, format!("{v} is not an integer")))
        };
        let string = |v: &Value| {
            v.as_str()
                .map(str::to_string)
                .ok_or_else(|| fail(n, format!("{v} is not a string")))
        };
        match n {
            "States.Format" => {
                let template = string(args.first().ok_or_else(|| fail(n, "needs a template"))?)?;
                format(n, &template, &args[1..])
            }
            "States.StringToJson" => {
                want(1)?;
                serde_json::from_str(&string(&args[0])?).map_err(|e| fail(n, e))
            }
            "States.JsonToString" => {
                want(1)?;
                Ok(Value::String(args[0].to_string()))
            }
            "States.Array" => Ok(Value::Array(args)),
            "States.ArrayLength" => {
                want(1)?;
                let a = args[0].as_array().ok_or_else(|| fail(n, "not an array"))?;
                Ok(Value::from(a.len()))
            }
            "States.ArrayGetItem" => {
                want(2)?;
                let a = args[0].as_array().ok_or_else(|| fail(n, "not an array"))?;
                let i = int(&args[1])?;
                a.get(usize::try_from(i).map_err(|_| fail(n, "negative index"))?)
                    .cloned()
                    .ok_or_else(|| fail(n, format!("index {i} out of range")))
            }
            "States.ArrayContains" => {
                want(2)?;
                let a = args[0].as_array().ok_or_else(|| fail(n, "not an array"))?;
                Ok(Value::Bool(a.contains(&args[1])))
            }
            "States.ArrayRange" => {
                want(3)?;
                let (a, b, step) = (int(&args[0])?, int(&args[1])?, int(&args[2])?);
                if step == 0 {
                    return Err(fail(n, "step must not be zero"));
                }
                let mut out = Vec::new();
                let mut x = a;
                while (step > 0 && x <= b) || (step < 0 && x >= b) {
                    out.push(Value::from(x));
                    if out.len() > 1000 {
                        return Err(fail(n, "more than 1000 items"));
                    }
                    x += step;
                }
                Ok(Value::Array(out))
            }
            "States.MathAdd" => {
                want(2)?;
                let s = int(&args[0])?
                    .checked_add(int(&args[1])?)
                    .ok_or_else(|| fail(n, "overflow"))?;
                Ok(Value::from(s))
            }
            "States.UUID" => {
                want(0)?;
                Ok(Value::String(uuid::Uuid::new_v4().to_string()))
            }
            "States.StringSplit" => {
                want(2)?;
                let (s, sep) = (string(&args[0])?, string(&args[1])?);
                let parts: Vec<Value> = s
                    .split(|c| sep.contains(c))
                    .filter(|p| !p.is_empty())
                    .map(|p| Value::String(p.to_string()))
                    .collect();
                Ok(Value::Array(parts))
            }
            "States.Base64Encode" => {
                want(1)?;
                Ok(Value::String(
                    base64::engine::general_purpose::STANDARD.encode(string(&args[0])?),
                ))
            }
            "States.Base64Decode" => {
                want(1)?;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(string(&args[0])?)
                    .map_err(|e| fail(n, e))?;
                String::from_utf8(bytes)
                    .map(Value::String)
                    .map_err(|e| fail(n, e))
            }
            other => Err(fail(other, "not implemented")),
        }
    }
}

fn format(n: &str, template: &str, args: &[Value]) -> Result<Value, StatesError> {
    let mut out = String::new();
    let mut it = template.chars().peekable();
    let mut next_arg = args.iter();
    while let Some(c) = it.next() {
        match c {
            '\\' => match it.next() {
                Some(e) => out.push(e),
                None => out.push('\\'),
            },
            '{' if it.peek() == Some(&'}') => {
                it.next();
                let v = next_arg
                    .next()
                    .ok_or_else(|| fail(n, "more placeholders than arguments"))?;
                match v {
                    Value::String(s) => out.push_str(s),
                    Value::Array(_) | Value::Object(_) => {
                        return Err(fail(
                            n,
                            "arguments must be strings, numbers, booleans or null",
                        ));
                    }
                    other => out.push_str(&other.to_string()),
                }
            }
            c => out.push(c),
        }
    }
    if next_arg.next().is_some() {
        return Err(fail(n, "more arguments than placeholders"));
    }
    Ok(Value::String(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(expr: &str, input: Value) -> Result<Value, StatesError> {
        parse(expr)
            .unwrap()
            .eval(&input, &json!({"Execution": {"Name": "ex1"}}))
    }

    #[test]
    fn evaluates_the_functions_the_definitions_use() {
        let input = json!({"n": 2, "who": "Ann", "s": "{\"a\":[1]}"});
        assert_eq!(
            run("States.MathAdd($.n, 1)", input.clone()).unwrap(),
            json!(3)
        );
        assert_eq!(
            run("States.MathAdd($.n, -5)", input.clone()).unwrap(),
            json!(-3)
        );
        assert_eq!(
            run(
                "States.Format('Hi {} on {} \\{x\\}', $.who, $$.Execution.Name)",
                input.clone()
            )
            .unwrap(),
            json!("Hi Ann on ex1 {x}")
        );
        assert_eq!(
            run("States.StringToJson($.s)", input.clone()).unwrap(),
            json!({"a": [1]})
        );
        assert_eq!(
            run("States.StringToJson('4')", input.clone()).unwrap(),
            json!(4)
        );
        assert_eq!(
            run("States.JsonToString($.n)", input.clone()).unwrap(),
            json!("2")
        );
        assert_eq!(
            run(
                "States.Array($.n, 'x', States.MathAdd(1, 1), true, null)",
                input.clone()
            )
            .unwrap(),
            json!([2, "x", 2, true, null])
        );
        assert_eq!(
            run("States.ArrayLength(States.Array(1, 2))", input.clone()).unwrap(),
            json!(2)
        );
        let id = run("States.UUID()", input).unwrap();
        assert_eq!(id.as_str().unwrap().len(), 36);
    }

    #[test]
    fn reports_bad_calls_clearly() {
        assert!(
            parse("States.Nope(1)")
                .unwrap_err()
                .contains("unknown intrinsic")
        );
        assert!(parse("States.Format('x'").is_err());
        let e = run("States.MathAdd('a', 1)", json!({})).unwrap_err();
        assert_eq!(e.error, "States.IntrinsicFailure");
        let e = run("States.Format('{} {}', 1)", json!({})).unwrap_err();
        assert!(e.cause.contains("placeholders"));
        let e = run("States.MathAdd($.missing, 1)", json!({})).unwrap_err();
        assert_eq!(e.error, "States.Runtime");
    }
}
