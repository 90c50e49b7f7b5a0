//! JSONC (JSON with comments and trailing commas): a parser that keeps byte offsets, and
//! key-path edits in the manner of Sourcegraph's `jsonx` (a port of VS Code's `setProperty`).
//!
//! An edit changes only the span it edits: comments, whitespace and everything else in the text
//! stay byte-for-byte. (Sourcegraph additionally re-indents the lines an edit touches; inserted
//! values here are already pretty-printed the way that formatter prints them.)

use serde_json::Value;

/// A parsed JSONC value with its byte range in the source text.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub start: usize,
    pub end: usize,
    pub kind: Kind,
}

/// What a [`Node`] holds.
#[derive(Debug, Clone)]
pub(crate) enum Kind {
    Object(Vec<Prop>),
    Array(Vec<Node>),
    Scalar(Value),
}

/// One `"key": value` member of an object; it starts at the key and ends with the value.
#[derive(Debug, Clone)]
pub(crate) struct Prop {
    pub key: String,
    pub start: usize,
    pub value: Node,
}

/// A key-path segment: an object property or an array index (`-1` = append).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Seg {
    Prop(String),
    Index(i64),
}

/// Parse `text`; `Ok(None)` for a document with no value (empty, whitespace or comments only).
pub(crate) fn parse(text: &str) -> Result<Option<Node>, String> {
    let mut p = Parser {
        s: text.as_bytes(),
        text,
        i: 0,
    };
    // A UTF-8 byte order mark is not part of the value.
    if text.starts_with('\u{feff}') {
        p.i = 3;
    }
    p.skip_trivia()?;
    if p.i >= p.s.len() {
        return Ok(None);
    }
    let node = p.value(0)?;
    p.skip_trivia()?;
    if p.i < p.s.len() {
        return Err(p.err("end of input"));
    }
    Ok(Some(node))
}

/// Parse `text` into a plain JSON value (`Ok(None)` when it holds no value). Duplicate keys:
/// the last wins.
pub(crate) fn parse_value(text: &str) -> Result<Option<Value>, String> {
    Ok(parse(text)?.map(|n| to_value(&n)))
}

/// The plain JSON value of a node.
pub(crate) fn to_value(node: &Node) -> Value {
    match &node.kind {
        Kind::Scalar(v) => v.clone(),
        Kind::Array(items) => Value::Array(items.iter().map(to_value).collect()),
        Kind::Object(props) => {
            let mut m = serde_json::Map::new();
            for p in props {
                m.insert(p.key.clone(), to_value(&p.value));
            }
            Value::Object(m)
        }
    }
}

const MAX_DEPTH: usize = 200;

struct Parser<'a> {
    s: &'a [u8],
    text: &'a str,
    i: usize,
}

impl Parser<'_> {
    fn err(&self, expected: &str) -> String {
        let line = self.text[..self.i.min(self.text.len())].matches('\n').count() + 1;
        format!(
            "invalid JSONC at byte {} (line {line}): expected {expected}",
            self.i
        )
    }

    fn skip_trivia(&mut self) -> Result<(), String> {
        loop {
            match self.s.get(self.i) {
                Some(b' ' | b'\t' | b'\r' | b'\n') => self.i += 1,
                Some(b'/') => match self.s.get(self.i + 1) {
                    Some(b'/') => {
                        while self.i < self.s.len() && self.s[self.i] != b'\n' {
                            self.i += 1;
                        }
                    }
                    Some(b'*') => {
                        let rest = &self.text[self.i + 2..];
                        match rest.find("*/") {
                            Some(k) => self.i += 2 + k + 2,
                            None => return Err(self.err("the end of a /* comment */")),
                        }
                    }
                    _ => return Err(self.err("a value")),
                },
                _ => return Ok(()),
            }
        }
    }

    fn value(&mut self, depth: usize) -> Result<Node, String> {
        if depth > MAX_DEPTH {
            return Err(self.err("less nesting"));
        }
        let start = self.i;
        match self.s.get(self.i) {
            Some(b'{') => {
                self.i += 1;
                let mut props = Vec::new();
                loop {
                    self.skip_trivia()?;
                    match self.s.get(self.i) {
                        Some(b'}') => break,
                        Some(b'"') => {}
                        _ => return Err(self.err("a property name or '}'")),
                    }
                    let key_start = self.i;
                    let key = self.string()?;
                    self.skip_trivia()?;
                    if self.s.get(self.i) != Some(&b':') {
                        return Err(self.err("':'"));
                    }
                    self.i += 1;
                    self.skip_trivia()?;
                    let value = self.value(depth + 1)?;
                    props.push(Prop {
                        key,
                        start: key_start,
                        value,
                    });
                    self.skip_trivia()?;
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => break,
                        _ => return Err(self.err("',' or '}'")),
                    }
                }
                self.i += 1;
                Ok(Node {
                    start,
                    end: self.i,
                    kind: Kind::Object(props),
                })
            }
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                loop {
                    self.skip_trivia()?;
                    if self.s.get(self.i) == Some(&b']') {
                        break;
                    }
                    items.push(self.value(depth + 1)?);
                    self.skip_trivia()?;
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b']') => break,
                        _ => return Err(self.err("',' or ']'")),
                    }
                }
                self.i += 1;
                Ok(Node {
                    start,
                    end: self.i,
                    kind: Kind::Array(items),
                })
            }
            Some(b'"') => {
                let s = self.string()?;
                Ok(Node {
                    start,
                    end: self.i,
                    kind: Kind::Scalar(Value::String(s)),
                })
            }
            Some(_) => {
                while self.i < self.s.len()
                    && matches!(self.s[self.i], b'a'..=b'z' | b'0'..=b'9' | b'-' | b'+' | b'.' | b'E')
                {
                    self.i += 1;
                }
                let tok = &self.text[start..self.i];
                let v = match tok {
                    "true" => Value::Bool(true),
                    "false" => Value::Bool(false),
                    "null" => Value::Null,
                    _ => match serde_json::from_str::<serde_json::Number>(tok) {
                        Ok(n) => Value::Number(n),
                        Err(_) => {
                            self.i = start;
                            return Err(self.err("a value"));
                        }
                    },
                };
                Ok(Node {
                    start,
                    end: self.i,
                    kind: Kind::Scalar(v),
                })
            }
            None => Err(self.err("a value")),
        }
    }

    /// A JSON string starting at `self.i` (which is `"`), decoded.
    fn string(&mut self) -> Result<String, String> {
        let start = self.i;
        self.i += 1;
        loop {
            match self.s.get(self.i) {
                Some(b'"') => break,
                Some(b'\\') => self.i += 2,
                Some(b'\n') | None => {
                    self.i = start;
                    return Err(self.err("a closed string"));
                }
                Some(_) => self.i += 1,
            }
        }
        self.i += 1;
        let raw = self.text.get(start..self.i).ok_or_else(|| self.err("a string"))?;
        serde_json::from_str::<String>(raw).map_err(|_| {
            let at = self.i;
            self.i = start;
            let e = self.err("a valid string");
            self.i = at;
            e
        })
    }
}

/// Compact JSON text of `v` as Go's `encoding/json` writes it for a decoded `any` value:
/// object keys sorted, and `<`, `>`, `&`, U+2028, U+2029 escaped.
pub(crate) fn go_json(v: &Value) -> String {
    let mut out = String::new();
    write_go_json(v, &mut out);
    out
}

fn write_go_json(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (n, k) in keys.into_iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                write_go_string(k, out);
                out.push(':');
                if let Some(x) = m.get(k) {
                    write_go_json(x, out);
                }
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (n, x) in a.iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                write_go_json(x, out);
            }
            out.push(']');
        }
        Value::String(s) => write_go_string(s, out),
        other => out.push_str(&other.to_string()),
    }
}

fn write_go_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Indentation unit of Sourcegraph's settings formatter (`conf.FormatOptions`: 2 spaces).
const UNIT: &str = "  ";

/// Pretty-print the JSON text `json` (already valid) the way Sourcegraph's formatter lays out an
/// inserted value: one member per line, `": "` after keys, continuation lines prefixed by `indent`.
fn pretty(json: &str, indent: &str) -> Result<String, String> {
    let node = parse(json)?.ok_or_else(|| "empty value".to_string())?;
    let mut out = String::new();
    write_pretty(json, &node, indent, &mut out);
    Ok(out)
}

fn write_pretty(src: &str, node: &Node, indent: &str, out: &mut String) {
    match &node.kind {
        Kind::Scalar(_) => out.push_str(&src[node.start..node.end]),
        Kind::Array(items) if items.is_empty() => out.push_str("[]"),
        Kind::Object(props) if props.is_empty() => out.push_str("{}"),
        Kind::Array(items) => {
            let inner = format!("{indent}{UNIT}");
            out.push('[');
            for (n, item) in items.iter().enumerate() {
                out.push_str(if n > 0 { ",\n" } else { "\n" });
                out.push_str(&inner);
                write_pretty(src, item, &inner, out);
            }
            out.push('\n');
            out.push_str(indent);
            out.push(']');
        }
        Kind::Object(props) => {
            let inner = format!("{indent}{UNIT}");
            out.push('{');
            for (n, p) in props.iter().enumerate() {
                out.push_str(if n > 0 { ",\n" } else { "\n" });
                out.push_str(&inner);
                let key_end = src[p.start..].find(':').map(|k| p.start + k).unwrap_or(p.start);
                out.push_str(src[p.start..key_end].trim_end());
                out.push_str(": ");
                write_pretty(src, &p.value, &inner, out);
            }
            out.push('\n');
            out.push_str(indent);
            out.push('}');
        }
    }
}

/// Leading whitespace of the line that contains byte `at`.
fn line_indent(text: &str, at: usize) -> &str {
    let line_start = text[..at].rfind('\n').map(|k| k + 1).unwrap_or(0);
    let line = &text[line_start..];
    let n = line.len() - line.trim_start_matches([' ', '\t']).len();
    &line[..n]
}

/// Whether only spaces/tabs stand between the start of its line and byte `at`.
fn starts_line(text: &str, at: usize) -> bool {
    let line_start = text[..at].rfind('\n').map(|k| k + 1).unwrap_or(0);
    text[line_start..at].chars().all(|c| c == ' ' || c == '\t')
}

fn find<'n>(root: &'n Node, path: &[Seg]) -> Option<&'n Node> {
    let mut node = root;
    for seg in path {
        node = match (seg, &node.kind) {
            (Seg::Prop(k), Kind::Object(props)) => &props.iter().find(|p| &p.key == k)?.value,
            (Seg::Index(i), Kind::Array(items)) => items.get(usize::try_from(*i).ok()?)?,
            _ => return None,
        };
    }
    Some(node)
}

fn splice(text: &str, start: usize, end: usize, content: &str) -> String {
    let mut s = String::with_capacity(text.len() + content.len());
    s.push_str(&text[..start]);
    s.push_str(content);
    s.push_str(&text[end..]);
    s
}

/// Insert `member` (already pretty-printed for indentation `inner`) into the container `parent`
/// after its last member `prev_end` (or into the empty container).
fn insert_member(
    text: &str,
    parent: &Node,
    prev: Option<(usize, usize)>,
    member: impl Fn(&str) -> Result<String, String>,
) -> Result<String, String> {
    match prev {
        Some((prev_start, prev_end)) => {
            let (sep, indent) = if starts_line(text, prev_start) {
                ("\n".to_string(), line_indent(text, prev_start).to_string())
            } else {
                (" ".to_string(), line_indent(text, prev_start).to_string())
            };
            let content = format!(
                ",{sep}{}{}",
                if sep == "\n" { indent.as_str() } else { "" },
                member(&indent)?
            );
            Ok(splice(text, prev_end, prev_end, &content))
        }
        None => {
            // Empty container: insert after its last comment (if any), on a line of its own.
            let close = parent.end - 1;
            let inner_text = &text[parent.start + 1..close];
            let at = parent.start + 1 + inner_text.trim_end().len();
            let outer = line_indent(text, parent.start).to_string();
            let indent = format!("{outer}{UNIT}");
            let tail = if text[at..close].contains('\n') {
                String::new()
            } else {
                format!("\n{outer}")
            };
            let content = format!("\n{indent}{}{tail}", member(&indent)?);
            Ok(splice(text, at, at, &content))
        }
    }
}

/// Apply one key-path edit to JSONC `text`: set the value at `path` to the JSON text `value`
/// (strict JSON, compact), or remove it when `value` is `None`. Errors use jsonx's wording.
pub(crate) fn set_property(text: &str, path: &[Seg], value: Option<&str>) -> Result<String, String> {
    let root = parse(text)?;
    let mut rest: Vec<Seg> = path.to_vec();
    let mut value: Option<String> = value.map(str::to_string);
    let mut parent: Option<&Node> = None;
    let mut last: Option<Seg> = None;
    while let Some(seg) = rest.pop() {
        parent = root.as_ref().and_then(|r| find(r, &rest));
        if parent.is_none() {
            if let Some(v) = &value {
                // The container does not exist yet: wrap the value and go one level up.
                value = Some(match &seg {
                    Seg::Prop(k) => format!("{{{}:{v}}}", go_json(&Value::String(k.clone()))),
                    Seg::Index(_) => format!("[{v}]"),
                });
                last = Some(seg);
                continue;
            }
        }
        last = Some(seg);
        break;
    }
    let Some(parent) = parent else {
        // Empty document, or nothing of the path exists: the whole document becomes the value.
        let Some(v) = value else {
            return Err("can't delete in empty document".to_string());
        };
        let (start, end) = root.as_ref().map(|r| (r.start, r.end)).unwrap_or((0, text.len()));
        return Ok(splice(text, start, end, &pretty(&v, "")?));
    };
    match (&parent.kind, last) {
        (Kind::Object(props), Some(Seg::Prop(key))) => {
            let idx = props.iter().position(|p| p.key == key);
            match (idx, value) {
                (Some(i), None) => {
                    let existing = &props[i];
                    let (begin, end) = if i > 0 {
                        (props[i - 1].value.end, existing.value.end)
                    } else if props.len() > 1 {
                        (parent.start + 1, props[1].start)
                    } else {
                        (parent.start + 1, existing.value.end)
                    };
                    Ok(splice(text, begin, end, ""))
                }
                (Some(i), Some(v)) => {
                    let existing = &props[i];
                    let indent = line_indent(text, existing.start).to_string();
                    Ok(splice(
                        text,
                        existing.value.start,
                        existing.value.end,
                        &pretty(&v, &indent)?,
                    ))
                }
                (None, None) => Ok(text.to_string()),
                (None, Some(v)) => {
                    let prev = props.last().map(|p| (p.start, p.value.end));
                    let key_json = go_json(&Value::String(key));
                    insert_member(text, parent, prev, |indent| {
                        Ok(format!("{key_json}: {}", pretty(&v, indent)?))
                    })
                }
            }
        }
        (Kind::Array(items), Some(Seg::Index(i))) => match (i, value) {
            (-1, Some(v)) => {
                let prev = items.last().map(|n| (n.start, n.end));
                insert_member(text, parent, prev, |indent| pretty(&v, indent))
            }
            (i, None) if i >= 0 && (i as usize) < items.len() => {
                let i = i as usize;
                let (begin, end) = if items.len() == 1 {
                    (parent.start + 1, parent.end - 1)
                } else if i == items.len() - 1 {
                    (items[i - 1].end, items[i].end)
                } else {
                    (items[i].start, items[i + 1].start)
                };
                Ok(splice(text, begin, end, ""))
            }
            (i, None) => Err(format!("array index {i} is out of range")),
            (_, Some(_)) => Err("array modification not supported yet".to_string()),
        },
        (kind, seg) => {
            let what = if matches!(seg, Some(Seg::Index(_))) {
                "index"
            } else {
                "property"
            };
            let ty = match kind {
                Kind::Object(_) => "object",
                Kind::Array(_) => "array",
                Kind::Scalar(Value::String(_)) => "string",
                Kind::Scalar(Value::Number(_)) => "number",
                Kind::Scalar(Value::Bool(_)) => "boolean",
                Kind::Scalar(_) => "null",
            };
            Err(format!("can't add {what} to parent of type {ty}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(k: &str) -> Seg {
        Seg::Prop(k.to_string())
    }

    const DOC: &str = "{\n  // Global settings.\n  \"search.defaultPatternType\": \"literal\", /* keep */\n  \"notices\": [\n    {\n      \"message\": \"old\",\n      \"location\": \"top\"\n    }\n  ]\n}\n";

    #[test]
    fn parses_comments_and_trailing_commas() {
        let v = parse_value("// c\n{\"a\": [1, 2,], /* x */ \"b\": {\"c\": null,},}")
            .expect("test input")
            .expect("test input");
        assert_eq!(v, serde_json::json!({"a": [1, 2], "b": {"c": null}}));
        assert!(parse_value("{\"a\": }").is_err());
        assert!(parse_value("{\"a\": 1} x").is_err());
        assert!(parse_value("/* open").is_err());
        assert_eq!(parse_value("  // only a comment\n").expect("test input"), None);
    }

    #[test]
    fn append_then_remove_round_trips() {
        let notice = go_json(
            &serde_json::json!({"message": "Migration <now>", "location": "top", "dismissible": false}),
        );
        let added = set_property(DOC, &[p("notices"), Seg::Index(-1)], Some(&notice)).expect("test input");
        assert_eq!(
            added,
            "{\n  // Global settings.\n  \"search.defaultPatternType\": \"literal\", /* keep */\n  \"notices\": [\n    {\n      \"message\": \"old\",\n      \"location\": \"top\"\n    },\n    {\n      \"dismissible\": false,\n      \"location\": \"top\",\n      \"message\": \"Migration \\u003cnow\\u003e\"\n    }\n  ]\n}\n"
        );
        let removed = set_property(&added, &[p("notices"), Seg::Index(1)], None).expect("test input");
        assert_eq!(removed, DOC);
    }

    #[test]
    fn append_creates_the_array_and_property_removal_restores() {
        let doc = "{\n  \"a\": 1 // one\n}";
        let added = set_property(doc, &[p("notices"), Seg::Index(-1)], Some("{\"message\":\"m\"}"))
            .expect("test input");
        assert_eq!(
            added,
            "{\n  \"a\": 1,\n  \"notices\": [\n    {\n      \"message\": \"m\"\n    }\n  ] // one\n}"
        );
        assert_eq!(
            set_property(&added, &[p("notices")], None).expect("test input"),
            doc
        );
        let empty = set_property("", &[p("notices"), Seg::Index(-1)], Some("1")).expect("test input");
        assert_eq!(empty, "{\n  \"notices\": [\n    1\n  ]\n}");
        let braces = set_property("{}", &[p("x")], Some("true")).expect("test input");
        assert_eq!(braces, "{\n  \"x\": true\n}");
    }

    #[test]
    fn removal_of_only_and_middle_items() {
        assert_eq!(
            set_property("{\"n\": [1]}", &[p("n"), Seg::Index(0)], None).expect("test input"),
            "{\"n\": []}"
        );
        assert_eq!(
            set_property("{\"n\": [1, 2, 3]}", &[p("n"), Seg::Index(1)], None).expect("test input"),
            "{\"n\": [1, 3]}"
        );
        assert!(set_property("{\"n\": [1]}", &[p("n"), Seg::Index(3)], None).is_err());
        assert!(set_property("{\"n\": [1]}", &[p("n"), Seg::Index(0)], Some("2")).is_err());
        assert_eq!(
            set_property("{\"n\": 1}", &[p("m")], None).expect("test input"),
            "{\"n\": 1}"
        );
        assert!(set_property("{\"n\": 1}", &[p("n"), p("x")], Some("1")).is_err());
    }

    #[test]
    fn replaces_an_existing_value() {
        assert_eq!(
            set_property("{\"a\": 1, \"b\": 2}", &[p("a")], Some("[3]")).expect("test input"),
            "{\"a\": [\n  3\n], \"b\": 2}"
        );
    }
}
