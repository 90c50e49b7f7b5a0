//! pg_dump's table-of-contents comments: the `-- Name: x; Type: T; Schema: s;
//! Owner: o` header it writes before every object in a plain script. They
//! say which section (pre-data, data, post-data) a statement belongs to.

/// One TOC header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TocEntry {
    /// The object's name as pg_dump prints it (e.g. `repo`, `repo repo_pkey`).
    pub name: String,
    /// pg_dump's object type (e.g. `TABLE`, `INDEX`, `FK CONSTRAINT`).
    pub kind: String,
    /// Schema, when the object has one (`-` is none).
    pub schema: Option<String>,
}

impl TocEntry {
    /// The section this type belongs to; `None` for types that follow their
    /// object (COMMENT, ACL, SECURITY LABEL) and so stay in the current section.
    pub fn section(&self) -> Option<Section> {
        Some(match self.kind.as_str() {
            "COMMENT" | "ACL" | "SECURITY LABEL" => return None,
            "TABLE DATA" | "SEQUENCE SET" | "BLOBS" | "BLOB DATA" | "LARGE OBJECTS" => Section::Data,
            "INDEX"
            | "CONSTRAINT"
            | "FK CONSTRAINT"
            | "TRIGGER"
            | "RULE"
            | "INDEX ATTACH"
            | "POLICY"
            | "ROW SECURITY"
            | "MATERIALIZED VIEW DATA"
            | "EVENT TRIGGER"
            | "PUBLICATION"
            | "PUBLICATION TABLE"
            | "PUBLICATION TABLES IN SCHEMA"
            | "SUBSCRIPTION"
            | "SUBSCRIPTION TABLE"
            | "STATISTICS"
            | "STATISTICS DATA"
            | "DEFAULT ACL" => Section::PostData,
            _ => Section::PreData,
        })
    }

    /// `name (TYPE)`, schema-qualified when it has a schema, for messages.
    pub fn describe(&self) -> String {
        match &self.schema {
            Some(s) => format!("{} {s}.{}", self.kind.to_lowercase(), self.name),
            None => format!("{} {}", self.kind.to_lowercase(), self.name),
        }
    }
}

/// The three parts of a dump, in the order pg_dump writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Section {
    /// Settings and `--clean` drops before the first object.
    Prologue,
    /// Schemas, types, functions, tables, sequences, views.
    PreData,
    /// Table contents and sequence values.
    Data,
    /// Indexes, constraints, triggers and what needs the data first.
    PostData,
}

/// Finds TOC headers in trivia that may arrive in pieces (the lexer splits
/// comments wherever its reads end): keeps the unfinished last line.
#[derive(Debug, Default)]
pub struct TocTracker {
    carry: Vec<u8>,
}

impl TocTracker {
    /// Feeds trivia; returns the headers it completes, in order (pg_dump
    /// writes some objects as comments only, so one run can hold several).
    pub fn feed(&mut self, trivia: &[u8]) -> Vec<TocEntry> {
        let Some(last_nl) = memchr::memrchr(b'\n', trivia) else {
            // Headers are short; a longer unfinished line is not one.
            if self.carry.len() < 4096 {
                self.carry.extend_from_slice(trivia);
            }
            return Vec::new();
        };
        let found = if self.carry.is_empty() {
            parse_tocs(&trivia[..last_nl])
        } else {
            let mut joined = std::mem::take(&mut self.carry);
            joined.extend_from_slice(&trivia[..last_nl]);
            parse_tocs(&joined)
        };
        self.carry.clear();
        self.carry.extend_from_slice(&trivia[last_nl + 1..]);
        found
    }

    /// Something other than trivia came: an unfinished line ends here.
    pub fn reset(&mut self) {
        self.carry.clear();
    }
}

/// The last TOC header in a run of comment lines, if any.
pub fn parse_toc(trivia: &[u8]) -> Option<TocEntry> {
    parse_tocs(trivia).pop()
}

/// Every TOC header in a run of comment lines.
pub fn parse_tocs(trivia: &[u8]) -> Vec<TocEntry> {
    let mut found = Vec::new();
    for line in trivia.split(|b| *b == b'\n') {
        let rest = line
            .strip_prefix(b"-- Name: ")
            .or_else(|| line.strip_prefix(b"-- Data for Name: "));
        let Some(rest) = rest else { continue };
        let text = String::from_utf8_lossy(rest);
        let mut name = None;
        let mut kind = None;
        let mut schema = None;
        // "repo; Type: TABLE; Schema: public; Owner: -": the name itself may hold "; ",
        // so split on the known keys from the right.
        let head = match text.rfind("; Owner: ") {
            Some(i) => &text[..i],
            None => &text[..],
        };
        let (head, s) = match head.rfind("; Schema: ") {
            Some(i) => (&head[..i], Some(head[i + 10..].to_string())),
            None => (head, None),
        };
        if let Some(i) = head.rfind("; Type: ") {
            name = Some(head[..i].to_string());
            kind = Some(head[i + 8..].to_string());
            schema = s.filter(|s| s != "-");
        }
        if let (Some(name), Some(kind)) = (name, kind) {
            found.push(TocEntry { name, kind, schema });
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_headers() {
        let t = parse_toc(b"--\n-- Name: repo repo_pkey; Type: CONSTRAINT; Schema: public; Owner: -\n--\n\n")
            .expect("a TOC header");
        assert_eq!(t.name, "repo repo_pkey");
        assert_eq!(t.kind, "CONSTRAINT");
        assert_eq!(t.schema.as_deref(), Some("public"));
        assert_eq!(t.section(), Some(Section::PostData));
        let t = parse_toc(b"-- Data for Name: a; b; Type: TABLE DATA; Schema: public; Owner: sg\n")
            .expect("a TOC header");
        assert_eq!(t.name, "a; b");
        assert_eq!(t.section(), Some(Section::Data));
        let t = parse_toc(b"-- Name: pg_trgm; Type: EXTENSION; Schema: -; Owner: -\n").expect("a TOC header");
        assert_eq!(t.schema, None);
        assert_eq!(t.section(), Some(Section::PreData));
        assert!(parse_toc(b"-- just a comment\n").is_none());
        let c =
            parse_toc(b"-- Name: INDEX x; Type: COMMENT; Schema: public; Owner: -\n").expect("a TOC header");
        assert_eq!(c.section(), None);
    }
}
