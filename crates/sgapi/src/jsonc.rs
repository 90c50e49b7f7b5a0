//! A small JSONC reader (JSON with `//` and `/* */` comments and trailing
//! commas, as Sourcegraph stores settings) that keeps byte offsets, and the
//! few edits the notice needs. Edits splice the original text: every byte
//! outside the edited element stays as it was, comments included.

use serde_json::Value;

/// Why a text is not JSONC.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at byte {offset}")]
pub struct JsoncError {
    /// Byte offset of the problem.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
}

/// A parsed value with its byte range `start..end` in the text.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// First byte of the value.
    pub start: usize,
    /// One past the last byte of the value.
    pub end: usize,
    /// What the value is.
    pub kind: NodeKind,
}

/// The kind of a [`Node`].
#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// `{…}` with its members in order.
    Object(Vec<Member>),
    /// `[…]` with its elements in order.
    Array(Vec<Node>),
    /// A string, unescaped.
    String(String),
    /// A number, as written.
    Number(String),
    /// `true` or `false`.
    Bool(bool),
    /// `null`.
    Null,
}

/// One `"key": value` member of an object.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    /// The key, unescaped.
    pub key: String,
    /// First byte of the key's opening quote.
    pub key_start: usize,
    /// The value.
    pub value: Node,
}

impl Node {
    /// The member `key` of an object (the last one if repeated, as JSON
    /// readers do).
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            NodeKind::Object(members) => members.iter().rev().find(|m| m.key == key).map(|m| &m.value),
            _ => None,
        }
    }

    /// The string value, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::String(s) => Some(s),
            _ => None,
        }
    }

    /// The elements, if this is an array.
    pub fn elements(&self) -> Option<&[Node]> {
        match &self.kind {
            NodeKind::Array(e) => Some(e),
            _ => None,
        }
    }

    /// The members, if this is an object.
    pub fn members(&self) -> Option<&[Member]> {
        match &self.kind {
            NodeKind::Object(m) => Some(m),
            _ => None,
        }
    }

    /// The value as plain JSON (comments dropped).
    pub fn to_json(&self) -> Value {
        match &self.kind {
            NodeKind::Object(members) => {
                let mut map = serde_json::Map::new();
                for m in members {
                    map.insert(m.key.clone(), m.value.to_json());
                }
                Value::Object(map)
            }
            NodeKind::Array(e) => Value::Array(e.iter().map(Node::to_json).collect()),
            NodeKind::String(s) => Value::String(s.clone()),
            NodeKind::Number(n) => serde_json::from_str(n).unwrap_or(Value::Null),
            NodeKind::Bool(b) => Value::Bool(*b),
            NodeKind::Null => Value::Null,
        }
    }
}

/// Parses JSONC text. Empty text (or only comments) is `None`, as Sourcegraph
/// treats empty settings as `{}`.
///
/// # Errors
/// [`JsoncError`] for text that is not JSONC.
pub fn parse(text: &str) -> Result<Option<Node>, JsoncError> {
    let mut p = Parser {
        s: text.as_bytes(),
        text,
        i: 0,
    };
    p.skip_trivia()?;
    if p.i == p.s.len() {
        return Ok(None);
    }
    let v = p.value(0)?;
    p.skip_trivia()?;
    if p.i != p.s.len() {
        return Err(p.err("unexpected text after the value"));
    }
    Ok(Some(v))
}

/// Nesting deeper than this is refused (settings are shallow; this bounds the
/// recursion on hostile input).
const MAX_DEPTH: usize = 128;

struct Parser<'a> {
    s: &'a [u8],
    text: &'a str,
    i: usize,
}

impl Parser<'_> {
    fn err(&self, message: &str) -> JsoncError {
        JsoncError {
            offset: self.i,
            message: message.to_string(),
        }
    }

    fn skip_trivia(&mut self) -> Result<(), JsoncError> {
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
                        let start = self.i;
                        self.i += 2;
                        loop {
                            if self.i + 1 >= self.s.len() {
                                self.i = start;
                                return Err(self.err("unterminated /* comment"));
                            }
                            if self.s[self.i] == b'*' && self.s[self.i + 1] == b'/' {
                                self.i += 2;
                                break;
                            }
                            self.i += 1;
                        }
                    }
                    _ => return Err(self.err("unexpected '/'")),
                },
                _ => return Ok(()),
            }
        }
    }

    fn value(&mut self, depth: usize) -> Result<Node, JsoncError> {
        if depth > MAX_DEPTH {
            return Err(self.err("nesting too deep"));
        }
        let start = self.i;
        let kind = match self.s.get(self.i) {
            Some(b'{') => self.object(depth)?,
            Some(b'[') => self.array(depth)?,
            Some(b'"') => NodeKind::String(self.string()?),
            Some(b't') => self.word("true", NodeKind::Bool(true))?,
            Some(b'f') => self.word("false", NodeKind::Bool(false))?,
            Some(b'n') => self.word("null", NodeKind::Null)?,
            Some(b'-' | b'0'..=b'9') => self.number()?,
            Some(_) => return Err(self.err("expected a value")),
            None => return Err(self.err("unexpected end of text")),
        };
        Ok(Node {
            start,
            end: self.i,
            kind,
        })
    }

    fn word(&mut self, w: &str, kind: NodeKind) -> Result<NodeKind, JsoncError> {
        if self.s[self.i..].starts_with(w.as_bytes()) {
            self.i += w.len();
            Ok(kind)
        } else {
            Err(self.err("expected a value"))
        }
    }

    fn number(&mut self) -> Result<NodeKind, JsoncError> {
        let start = self.i;
        while let Some(c) = self.s.get(self.i) {
            if matches!(c, b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9') {
                self.i += 1;
            } else {
                break;
            }
        }
        let n = &self.text[start..self.i];
        if serde_json::from_str::<serde_json::Number>(n).is_err() {
            self.i = start;
            return Err(self.err("invalid number"));
        }
        Ok(NodeKind::Number(n.to_string()))
    }

    fn string(&mut self) -> Result<String, JsoncError> {
        let start = self.i;
        self.i += 1;
        loop {
            match self.s.get(self.i) {
                None | Some(b'\n') => {
                    self.i = start;
                    return Err(self.err("unterminated string"));
                }
                Some(b'\\') => self.i += 2,
                Some(b'"') => {
                    self.i += 1;
                    break;
                }
                Some(_) => self.i += 1,
            }
        }
        let raw = self.text.get(start..self.i).unwrap_or_default();
        serde_json::from_str::<String>(raw).map_err(|e| JsoncError {
            offset: start,
            message: format!("invalid string: {e}"),
        })
    }

    fn object(&mut self, depth: usize) -> Result<NodeKind, JsoncError> {
        self.i += 1;
        let mut members = Vec::new();
        loop {
            self.skip_trivia()?;
            match self.s.get(self.i) {
                Some(b'}') => {
                    self.i += 1;
                    return Ok(NodeKind::Object(members));
                }
                Some(b'"') => {}
                _ => return Err(self.err("expected a key or '}'")),
            }
            let key_start = self.i;
            let key = self.string()?;
            self.skip_trivia()?;
            if self.s.get(self.i) != Some(&b':') {
                return Err(self.err("expected ':'"));
            }
            self.i += 1;
            self.skip_trivia()?;
            let value = self.value(depth + 1)?;
            members.push(Member {
                key,
                key_start,
                value,
            });
            self.skip_trivia()?;
            match self.s.get(self.i) {
                Some(b',') => self.i += 1,
                Some(b'}') => {}
                _ => return Err(self.err("expected ',' or '}'")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<NodeKind, JsoncError> {
        self.i += 1;
        let mut elements = Vec::new();
        loop {
            self.skip_trivia()?;
            if self.s.get(self.i) == Some(&b']') {
                self.i += 1;
                return Ok(NodeKind::Array(elements));
            }
            elements.push(self.value(depth + 1)?);
            self.skip_trivia()?;
            match self.s.get(self.i) {
                Some(b',') => self.i += 1,
                Some(b']') => {}
                _ => return Err(self.err("expected ',' or ']'")),
            }
        }
    }
}

/// Whether `text[range]` holds a comment.
fn has_comment(text: &str, from: usize, to: usize) -> bool {
    let inner = text.get(from..to).unwrap_or_default();
    // Strings inside the range would need a real scan; callers pass ranges
    // between values, where only whitespace, commas and comments can be.
    inner.contains("//") || inner.contains("/*")
}

/// The indentation (spaces and tabs) of the line holding byte `at`, if `at`
/// is the first non-blank byte of its line.
fn line_indent(text: &str, at: usize) -> Option<&str> {
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let indent = &text[line_start..at];
    indent.chars().all(|c| c == ' ' || c == '\t').then_some(indent)
}

/// One indentation step guessed from the text (tab, or 2 or 4 spaces).
fn indent_unit(text: &str) -> &'static str {
    for line in text.lines() {
        if line.starts_with('\t') {
            return "\t";
        }
        let n = line.len() - line.trim_start_matches(' ').len();
        if n > 0 && !line.trim().is_empty() {
            return if n % 4 == 0 { "    " } else { "  " };
        }
    }
    "  "
}

/// Appends `element` (JSON text) to the top-level array `key`, creating
/// `"key": [element]` as the last member when absent. Only inserts: every
/// existing byte stays.
///
/// # Errors
/// Text that is not JSONC, a root that is not an object, or `key` holding
/// something other than an array.
pub fn append_to_array(text: &str, key: &str, element: &str) -> Result<String, JsoncError> {
    let unit = indent_unit(text);
    let Some(root) = parse(text)? else {
        return Ok(format!(
            "{{\n{unit}{}: [\n{unit}{unit}{element}\n{unit}]\n}}\n",
            json_string(key)
        ));
    };
    let NodeKind::Object(members) = &root.kind else {
        return Err(JsoncError {
            offset: root.start,
            message: "settings are not a JSON object".into(),
        });
    };
    match root.get(key) {
        Some(arr) => {
            let NodeKind::Array(elems) = &arr.kind else {
                return Err(JsoncError {
                    offset: arr.start,
                    message: format!("{key:?} is not an array"),
                });
            };
            match elems.last() {
                Some(last) => {
                    let sep = match line_indent(text, last.start) {
                        Some(indent) => format!(",\n{indent}"),
                        None => ", ".into(),
                    };
                    Ok(splice(text, last.end, last.end, &format!("{sep}{element}")))
                }
                None => {
                    // `[]` or `[ // comment\n ]`: insert before the `]`.
                    let close = arr.end - 1;
                    let member_indent = members
                        .iter()
                        .find(|m| m.key == key)
                        .and_then(|m| line_indent(text, m.key_start))
                        .unwrap_or("");
                    let content = if has_comment(text, arr.start + 1, close) {
                        format!("{member_indent}{unit}{element}\n{member_indent}")
                    } else {
                        return Ok(splice(
                            text,
                            arr.start + 1,
                            close,
                            &format!("\n{member_indent}{unit}{element}\n{member_indent}"),
                        ));
                    };
                    // Keep the comment lines; put the element on its own line.
                    let before = text[arr.start + 1..close].trim_end_matches([' ', '\t']);
                    let nl = if before.ends_with('\n') { "" } else { "\n" };
                    let start = arr.start + 1 + before.len();
                    Ok(splice(text, start, close, &format!("{nl}{content}")))
                }
            }
        }
        None => {
            let indent = members
                .last()
                .and_then(|m| line_indent(text, m.key_start))
                .unwrap_or(unit)
                .to_string();
            let prop = format!("{}: [\n{indent}{unit}{element}\n{indent}]", json_string(key));
            match members.last() {
                Some(last) => Ok(splice(
                    text,
                    last.value.end,
                    last.value.end,
                    &format!(",\n{indent}{prop}"),
                )),
                None => {
                    let close = root.end - 1;
                    let inner = &text[root.start + 1..close];
                    let kept = inner.trim_end_matches([' ', '\t', '\n', '\r']);
                    let at = root.start + 1 + kept.len();
                    // No newline before the `}` is added, so removing the
                    // member gives back `{}` exactly.
                    Ok(splice(text, at, at, &format!("\n{indent}{prop}")))
                }
            }
        }
    }
}

/// Removes element `index` of the top-level array `key`, with the separator
/// that joined it to its neighbour: the inverse of [`append_to_array`] for
/// the last element. Every other byte stays.
///
/// # Errors
/// Text that is not JSONC, or no such array or element.
pub fn remove_array_element(text: &str, key: &str, index: usize) -> Result<String, JsoncError> {
    let root = parse(text)?.ok_or_else(|| JsoncError {
        offset: 0,
        message: "settings are empty".into(),
    })?;
    let arr = root.get(key).ok_or_else(|| JsoncError {
        offset: root.start,
        message: format!("no {key:?} in the settings"),
    })?;
    let elems = arr.elements().ok_or_else(|| JsoncError {
        offset: arr.start,
        message: format!("{key:?} is not an array"),
    })?;
    let el = elems.get(index).ok_or_else(|| JsoncError {
        offset: arr.start,
        message: format!("{key:?} has no element {index}"),
    })?;
    if index > 0 {
        // `prev, el` → `prev` (comments after `el` stay).
        let prev = &elems[index - 1];
        return Ok(splice(text, prev.end, el.end, ""));
    }
    if let Some(next) = elems.get(1) {
        // `el, next` → `next`, keeping what sat before `el`.
        return Ok(splice(text, el.start, next.start, ""));
    }
    // The only element: drop it and a trailing comma, keep comments.
    let mut end = el.end;
    let rest = &text[end..arr.end - 1];
    let trimmed = rest.trim_start_matches([' ', '\t']);
    if trimmed.starts_with(',') {
        end += rest.len() - trimmed.len() + 1;
    }
    Ok(splice(text, el.start, end, ""))
}

/// Removes the top-level member `key` with the separator before it (or after
/// it, for the first member): the inverse of [`append_to_array`] creating the
/// member. Every other byte stays.
///
/// # Errors
/// Text that is not JSONC, or no such member.
pub fn remove_member(text: &str, key: &str) -> Result<String, JsoncError> {
    let root = parse(text)?.ok_or_else(|| JsoncError {
        offset: 0,
        message: "settings are empty".into(),
    })?;
    let members = root.members().ok_or_else(|| JsoncError {
        offset: root.start,
        message: "settings are not a JSON object".into(),
    })?;
    let idx = members
        .iter()
        .rposition(|m| m.key == key)
        .ok_or_else(|| JsoncError {
            offset: root.start,
            message: format!("no {key:?} in the settings"),
        })?;
    let m = &members[idx];
    if idx > 0 {
        let prev = &members[idx - 1];
        return Ok(splice(text, prev.value.end, m.value.end, ""));
    }
    if let Some(next) = members.get(1) {
        return Ok(splice(text, m.key_start, next.key_start, ""));
    }
    // The only member: remove from the end of what precedes it (the `{` or a
    // comment) to its end, and a trailing comma.
    let before = text[root.start + 1..m.key_start].trim_end_matches([' ', '\t', '\n', '\r']);
    let start = root.start + 1 + before.len();
    let mut end = m.value.end;
    let rest = &text[end..root.end - 1];
    let trimmed = rest.trim_start_matches([' ', '\t']);
    if trimmed.starts_with(',') {
        end += rest.len() - trimmed.len() + 1;
    }
    Ok(splice(text, start, end, ""))
}

/// Whether the text between the brackets of array `key`, minus the elements
/// themselves, holds a comment.
///
/// # Errors
/// Text that is not JSONC.
pub fn array_has_comments(text: &str, key: &str) -> Result<bool, JsoncError> {
    let Some(root) = parse(text)? else {
        return Ok(false);
    };
    let Some(arr) = root.get(key) else {
        return Ok(false);
    };
    let Some(elems) = arr.elements() else {
        return Ok(false);
    };
    let mut from = arr.start + 1;
    for e in elems {
        if has_comment(text, from, e.start) {
            return Ok(true);
        }
        from = e.end;
    }
    Ok(has_comment(text, from, arr.end - 1))
}

fn splice(text: &str, from: usize, to: usize, with: &str) -> String {
    let mut out = String::with_capacity(text.len() + with.len());
    out.push_str(&text[..from]);
    out.push_str(with);
    out.push_str(&text[to..]);
    out
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOTICE: &str = r#"{"message": "migrating", "location": "top", "dismissible": false}"#;

    fn round_trip(text: &str) -> String {
        let added = append_to_array(text, "notices", NOTICE).expect("append");
        let root = parse(&added).expect("parse added").expect("not empty");
        let n = root
            .get("notices")
            .and_then(Node::elements)
            .expect("notices array");
        let last = n.last().expect("one notice");
        assert_eq!(
            last.get("message").and_then(Node::as_str),
            Some("migrating"),
            "{added}"
        );
        assert_eq!(
            last.to_json(),
            serde_json::from_str::<Value>(NOTICE).expect("json")
        );
        added
    }

    #[test]
    fn parses_comments_trailing_commas_and_offsets() {
        let text = "// top\n{\n  \"a\": [1, 2,], /* c */\n  \"b\": {\"c\": \"x\\\"y\"},\n}\n";
        let root = parse(text).expect("parse").expect("some");
        assert_eq!(root.get("a").and_then(Node::elements).map(<[Node]>::len), Some(2));
        let b = root.get("b").expect("b");
        assert_eq!(&text[b.start..b.end], "{\"c\": \"x\\\"y\"}");
        assert_eq!(b.get("c").and_then(Node::as_str), Some("x\"y"));
        assert_eq!(parse("  // nothing\n").expect("empty"), None);
        assert!(parse("{\"a\": }").is_err());
        assert!(parse("{\"a\": 1} x").is_err());
        assert!(parse("/* open").is_err());
        assert!(parse(&"[".repeat(1000)).is_err());
    }

    #[test]
    fn append_then_remove_last_is_byte_for_byte() {
        let cases = [
            // Other notices, comments everywhere, odd spacing.
            "{\n  // Global settings\n  \"search.defaultPatternType\": \"literal\", // trailing\n  \"notices\": [\n    /* first */ {\"message\": \"hello\", \"location\": \"home\"},\n    {\"message\": \"other\", \"location\": \"top\"} // keep me\n  ],\n  /* end */\n}\n",
            // One-line array.
            "{\"notices\": [{\"message\": \"a\", \"location\": \"top\"}], \"x\": 1}",
            // Tabs, trailing comma after the last notice.
            "{\n\t\"notices\": [\n\t\t{\"message\": \"a\", \"location\": \"top\"},\n\t],\n}",
        ];
        for text in cases {
            let added = round_trip(text);
            let n = parse(&added)
                .expect("parse")
                .and_then(|r| r.get("notices").and_then(|a| a.elements().map(<[Node]>::len)))
                .expect("len");
            let back = remove_array_element(&added, "notices", n - 1).expect("remove");
            assert_eq!(back, text, "added:\n{added}");
        }
    }

    #[test]
    fn creating_the_array_is_undone_by_removing_the_member() {
        let cases = [
            "{\n  // only a comment and one key\n  \"motd\": [\"hi\"], // c\n}\n",
            "{\n    \"a\": 1\n}",
            "{\"a\": {\"b\": [1, 2]}}",
        ];
        for text in cases {
            let added = round_trip(text);
            assert!(!array_has_comments(&added, "notices").expect("scan"));
            let back = remove_member(&added, "notices").expect("remove");
            assert_eq!(back, text, "added:\n{added}");
        }
    }

    #[test]
    fn empty_objects_and_empty_arrays() {
        for text in [
            "{}",
            "{\n}\n",
            "{ // nothing yet\n}",
            "{\"notices\": []}",
            "{\"notices\": [\n  // none\n]}",
        ] {
            let added = round_trip(text);
            assert!(parse(&added).is_ok());
        }
        // Empty text becomes an object holding the notice.
        let added = append_to_array("", "notices", NOTICE).expect("append");
        assert!(parse(&added).expect("parse").is_some());
        // Comments inside the array are noticed (so the caller removes the
        // element, not the member).
        let added = append_to_array("{\"notices\": [\n  // none\n]}", "notices", NOTICE).expect("append");
        assert!(array_has_comments(&added, "notices").expect("scan"));
        let back = remove_array_element(&added, "notices", 0).expect("remove");
        assert!(back.contains("// none"), "{back}");
        assert_eq!(
            parse(&back)
                .expect("parse")
                .and_then(|r| r.get("notices").map(Node::to_json)),
            Some(Value::Array(vec![]))
        );
    }

    #[test]
    fn removing_a_middle_or_first_element_keeps_the_others() {
        let text = "{\"notices\": [\n  {\"message\": \"a\"},\n  {\"message\": \"ours\"},\n  {\"message\": \"c\"} // c\n]}";
        let out = remove_array_element(text, "notices", 1).expect("remove");
        assert_eq!(
            out,
            "{\"notices\": [\n  {\"message\": \"a\"},\n  {\"message\": \"c\"} // c\n]}"
        );
        let out = remove_array_element(text, "notices", 0).expect("remove");
        assert_eq!(
            out,
            "{\"notices\": [\n  {\"message\": \"ours\"},\n  {\"message\": \"c\"} // c\n]}"
        );
    }

    #[test]
    fn refuses_what_it_cannot_edit() {
        assert!(append_to_array("[1]", "notices", NOTICE).is_err());
        assert!(append_to_array("{\"notices\": 3}", "notices", NOTICE).is_err());
        assert!(remove_array_element("{\"notices\": []}", "notices", 0).is_err());
        assert!(remove_member("{}", "notices").is_err());
    }
}
