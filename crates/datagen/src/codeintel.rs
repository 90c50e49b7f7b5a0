//! The codeintel database: SCIP documents (the bulk: bytea payloads), their per-upload
//! lookup rows and symbols, symbol-name trees, and the rockskip symbol tables.
//!
//! Upload `u` owns documents `(u-1)*DOCS_PER_UPLOAD+1 ..= u*DOCS_PER_UPLOAD`. Every
//! document has a lookup row in its own upload; some are shared with the previous upload
//! (SCIP deduplicates identical documents across uploads). All rows are pure functions
//! of (seed, ids), so the bytes of the tables that follow the bulk can be measured while
//! the bulk is written, and the script hits the requested size.
//!
//! The `*_schema_versions` tables of lookups and symbols are filled by insert triggers.

use std::fmt::Write as _;
use std::io;

use crate::content::{commit_sha, repo_info, stream, tricky, UNICODE_WORDS, WORDS};
use crate::copy::{array_literal, header, measure, micros, setval, Row, Script, DAY, HOUR};
use crate::rng::Rng;

const DOCS_PER_UPLOAD: i64 = 200;
const SYMBOL_NAMES_PER_UPLOAD: i64 = 256;
const ROOT_SYMBOL_NAMES: i64 = 16;
const COMMITS_PER_REPO: i64 = 8;
const ROCKSKIP_SYMBOLS_PER_REPO: i64 = 40;
const T2022: i64 = micros(2022, 1, 1, 0, 0, 0);

/// Tool names, versions and argument lists for `codeintel_scip_metadata`.
const TOOLS: &[(&str, &str)] = &[
    ("scip-go", "v0.1.4"),
    ("scip-typescript", "0.3.6"),
    ("scip-java", "0.8.18"),
    ("scip-python", "0.6.0"),
    ("rust-analyzer", "0.3.1546-standalone"),
];

const DIRS: &[&str] = &[
    "cmd/server",
    "internal/search",
    "lib/codeintel",
    "client/web/src",
    "pkg",
    "src/main/java/com/example",
    "docs",
    "vendor/github.com/pkg/errors",
];

const EXTS: &[&str] = &["go", "ts", "tsx", "java", "py", "rs", "md", "json"];

struct Codeintel {
    seed: u64,
    docs: i64,
    lookups: i64,
    uploads: i64,
    path: String,
    tmp: String,
    payload: Vec<u8>,
    scratch: Vec<u8>,
}

/// Writes the codeintel script.
pub(crate) fn generate(s: &mut Script<'_>, target: u64, seed: u64) -> io::Result<()> {
    let mut g = Codeintel {
        seed,
        docs: 0,
        lookups: 0,
        uploads: 0,
        path: String::new(),
        tmp: String::new(),
        payload: Vec::new(),
        scratch: Vec::new(),
    };
    s.sql(&header("codeintel", seed, target))?;
    g.documents(s, target)?;
    g.document_lookup(s)?;
    g.per_upload(s)?;
    g.symbols(s)?;
    g.rockskip(s)?;
    let trailer = g.trailer();
    s.sql(&trailer)
}

fn upload_of(doc: i64) -> i64 {
    (doc - 1) / DOCS_PER_UPLOAD + 1
}

/// The uploads that reference document `doc`: its own, and sometimes the previous one.
fn doc_uploads(seed: u64, doc: i64) -> ([i64; 2], usize) {
    let u = upload_of(doc);
    let mut rng = Rng::new(seed, stream::LOOKUP, doc as u64);
    if u > 1 && rng.chance(1, 5) {
        ([u, u - 1], 2)
    } else {
        ([u, 0], 1)
    }
}

/// Number of symbols that lookup row `lookup` carries.
fn symbol_count(seed: u64, lookup: i64) -> i64 {
    Rng::new(seed, stream::SYMBOL, lookup as u64).range(1, 8)
}

impl Codeintel {
    /// The bulk: documents until the script (plus what must follow) reaches the target.
    fn documents(&mut self, s: &mut Script<'_>, target: u64) -> io::Result<()> {
        s.begin_copy(
            "codeintel_scip_documents",
            &["id", "payload_hash", "schema_version", "raw_scip_payload"],
        )?;
        // Headers and ends of the COPY blocks after this one, and the trailer.
        let mut tail = 3000u64;
        let mut doc = 0i64;
        let mut lookup = 0i64;
        loop {
            doc += 1;
            let u = upload_of(doc);
            if (doc - 1) % DOCS_PER_UPLOAD == 0 {
                tail += self.measure_upload(u);
            }
            self.document_row(s, doc)?;
            let (ups, n) = doc_uploads(self.seed, doc);
            for &up in &ups[..n] {
                lookup += 1;
                let seed = self.seed;
                let path = &mut self.path;
                tail += measure(&mut self.scratch, |r| lookup_row(r, seed, lookup, up, doc, path));
                for k in 0..symbol_count(seed, lookup) {
                    tail += measure(&mut self.scratch, |r| symbol_row(r, seed, lookup, up, k));
                }
            }
            if s.bytes() + tail >= target {
                break;
            }
        }
        self.docs = doc;
        self.lookups = lookup;
        self.uploads = upload_of(doc);
        s.end_copy()
    }

    fn document_row(&mut self, s: &mut Script<'_>, doc: i64) -> io::Result<()> {
        let mut rng = Rng::new(self.seed, stream::DOC, doc as u64);
        let len = if rng.chance(1, 100) {
            rng.range(20_000, 60_000)
        } else {
            rng.range(64, 5000)
        } as usize;
        self.payload.resize(len, 0);
        rng.fill(&mut self.payload);
        if doc == 1 {
            // Every byte value at least once.
            for (i, b) in self.payload.iter_mut().take(256).enumerate() {
                *b = i as u8;
            }
        }
        let mut hash = [0u8; 32];
        rng.fill(&mut hash[..24]);
        hash[24..].copy_from_slice(&(doc as u64).to_be_bytes());
        let payload = &self.payload;
        s.row(|r| {
            r.int(doc);
            r.bytea(&hash);
            r.int(1);
            r.bytea(payload);
        })
    }

    /// Bytes of every per-upload row of upload `u` (in all tables after the bulk).
    fn measure_upload(&mut self, u: i64) -> u64 {
        let seed = self.seed;
        let (tmp, path, scratch) = (&mut self.tmp, &mut self.path, &mut self.scratch);
        let mut n = measure(scratch, |r| metadata_row(r, seed, u, tmp));
        n += measure(scratch, |r| schema_versions_row(r, u));
        n += measure(scratch, |r| reconcile_row(r, u));
        n += measure(scratch, |r| dereference_row(r, seed, u));
        for id in 1..=SYMBOL_NAMES_PER_UPLOAD {
            n += measure(scratch, |r| symbol_name_row(r, seed, u, id, tmp));
        }
        n += measure(scratch, |r| rockskip_repo_row(r, seed, u, tmp));
        for k in 0..COMMITS_PER_REPO {
            n += measure(scratch, |r| ancestry_row(r, seed, u, k, tmp));
        }
        for k in 0..ROCKSKIP_SYMBOLS_PER_REPO {
            n += measure(scratch, |r| rockskip_symbol_row(r, seed, u, k, path));
        }
        n
    }

    fn document_lookup(&mut self, s: &mut Script<'_>) -> io::Result<()> {
        s.begin_copy(
            "codeintel_scip_document_lookup",
            &["id", "upload_id", "document_path", "document_id"],
        )?;
        let mut lookup = 0;
        for doc in 1..=self.docs {
            let (ups, n) = doc_uploads(self.seed, doc);
            for &up in &ups[..n] {
                lookup += 1;
                let (seed, path) = (self.seed, &mut self.path);
                s.row(|r| lookup_row(r, seed, lookup, up, doc, path))?;
            }
        }
        s.end_copy()
    }

    /// Tables with a fixed number of rows per upload.
    fn per_upload(&mut self, s: &mut Script<'_>) -> io::Result<()> {
        let seed = self.seed;
        s.begin_copy(
            "codeintel_scip_documents_schema_versions",
            &["upload_id", "min_schema_version", "max_schema_version"],
        )?;
        for u in 1..=self.uploads {
            s.row(|r| schema_versions_row(r, u))?;
        }
        s.end_copy()?;
        s.begin_copy(
            "codeintel_scip_metadata",
            &[
                "id",
                "upload_id",
                "tool_name",
                "tool_version",
                "tool_arguments",
                "text_document_encoding",
                "protocol_version",
            ],
        )?;
        for u in 1..=self.uploads {
            let tmp = &mut self.tmp;
            s.row(|r| metadata_row(r, seed, u, tmp))?;
        }
        s.end_copy()?;
        s.begin_copy(
            "codeintel_scip_symbol_names",
            &["id", "upload_id", "name_segment", "prefix_id"],
        )?;
        for u in 1..=self.uploads {
            for id in 1..=SYMBOL_NAMES_PER_UPLOAD {
                let tmp = &mut self.tmp;
                s.row(|r| symbol_name_row(r, seed, u, id, tmp))?;
            }
        }
        s.end_copy()?;
        s.begin_copy("codeintel_last_reconcile", &["dump_id", "last_reconcile_at"])?;
        for u in 1..=self.uploads {
            s.row(|r| reconcile_row(r, u))?;
        }
        s.end_copy()?;
        s.begin_copy(
            "codeintel_scip_documents_dereference_logs",
            &["id", "document_id", "last_removal_time"],
        )?;
        for u in 1..=self.uploads {
            s.row(|r| dereference_row(r, seed, u))?;
        }
        s.end_copy()
    }

    fn symbols(&mut self, s: &mut Script<'_>) -> io::Result<()> {
        s.begin_copy(
            "codeintel_scip_symbols",
            &[
                "upload_id",
                "document_lookup_id",
                "schema_version",
                "definition_ranges",
                "reference_ranges",
                "implementation_ranges",
                "type_definition_ranges",
                "symbol_id",
            ],
        )?;
        let mut lookup = 0;
        for doc in 1..=self.docs {
            let (ups, n) = doc_uploads(self.seed, doc);
            for &up in &ups[..n] {
                lookup += 1;
                for k in 0..symbol_count(self.seed, lookup) {
                    let seed = self.seed;
                    s.row(|r| symbol_row(r, seed, lookup, up, k))?;
                }
            }
        }
        s.end_copy()
    }

    fn rockskip(&mut self, s: &mut Script<'_>) -> io::Result<()> {
        let seed = self.seed;
        s.begin_copy("rockskip_repos", &["id", "repo", "last_accessed_at"])?;
        for u in 1..=self.uploads {
            let tmp = &mut self.tmp;
            s.row(|r| rockskip_repo_row(r, seed, u, tmp))?;
        }
        s.end_copy()?;
        s.begin_copy(
            "rockskip_ancestry",
            &["id", "repo_id", "commit_id", "height", "ancestor"],
        )?;
        for u in 1..=self.uploads {
            for k in 0..COMMITS_PER_REPO {
                let tmp = &mut self.tmp;
                s.row(|r| ancestry_row(r, seed, u, k, tmp))?;
            }
        }
        s.end_copy()?;
        s.begin_copy(
            "rockskip_symbols",
            &["id", "added", "deleted", "repo_id", "path", "name"],
        )?;
        for u in 1..=self.uploads {
            for k in 0..ROCKSKIP_SYMBOLS_PER_REPO {
                let path = &mut self.path;
                s.row(|r| rockskip_symbol_row(r, seed, u, k, path))?;
            }
        }
        s.end_copy()
    }

    fn trailer(&self) -> String {
        let mut t = String::new();
        for (seq, last) in [
            ("codeintel_scip_documents_id_seq", self.docs),
            ("codeintel_scip_document_lookup_id_seq", self.lookups),
            ("codeintel_scip_metadata_id_seq", self.uploads),
            ("codeintel_scip_documents_dereference_logs_id_seq", self.uploads),
            ("rockskip_repos_id_seq", self.uploads),
            ("rockskip_ancestry_id_seq", self.uploads * COMMITS_PER_REPO),
            (
                "rockskip_symbols_id_seq",
                self.uploads * ROCKSKIP_SYMBOLS_PER_REPO,
            ),
        ] {
            setval(&mut t, seq, last);
        }
        t.push_str("\nCOMMIT;\n");
        t
    }
}

/// The path of document `doc`: unique per document, sometimes awkward.
fn doc_path(seed: u64, doc: i64, out: &mut String) {
    let mut rng = Rng::new(seed, stream::DOC ^ 0x5a5a, doc as u64);
    out.clear();
    match rng.below(200) {
        0 => {
            let _ = write!(out, "dir with space/{}/file_{doc}.go", rng.pick(UNICODE_WORDS));
        }
        1 => {
            let _ = write!(out, "weird\tname_{doc}.txt");
        }
        2 => {
            let _ = write!(out, "line\nbreak_{doc}.md");
        }
        3 => {
            let _ = write!(out, "back\\slash\\{doc}.rs");
        }
        4 => {
            let _ = write!(out, "{}/{doc}", tricky(&mut rng));
        }
        _ => {
            let _ = write!(
                out,
                "{}/{}_{doc}.{}",
                rng.pick(DIRS),
                rng.pick(WORDS),
                rng.pick(EXTS)
            );
        }
    }
}

fn lookup_row(r: &mut Row<'_>, seed: u64, lookup: i64, upload: i64, doc: i64, path: &mut String) {
    doc_path(seed, doc, path);
    r.int(lookup);
    r.int(upload);
    r.text(path);
    r.int(doc);
}

/// Symbol `k` of lookup row `lookup`: distinct symbol ids per lookup row.
fn symbol_row(r: &mut Row<'_>, seed: u64, lookup: i64, upload: i64, k: i64) {
    let start = Rng::new(seed, stream::SYMBOL, lookup as u64).below(SYMBOL_NAMES_PER_UPLOAD as u64) as i64;
    let mut rng = Rng::new(seed, stream::SYMBOL ^ 0x77, ((lookup as u64) << 4) | k as u64);
    // Definition, reference, implementation and type-definition ranges (encoded bytes).
    const MAX: usize = 48;
    let mut buf = [0u8; 4 * MAX];
    let mut lens = [0usize; 4];
    for (i, (num, den)) in [(2, 5), (9, 10), (1, 20), (1, 20)].into_iter().enumerate() {
        if rng.chance(num, den) {
            lens[i] = rng.range(4, MAX as i64) as usize;
            rng.fill(&mut buf[i * MAX..i * MAX + lens[i]]);
        }
    }
    r.int(upload);
    r.int(lookup);
    r.int(1);
    for (i, &n) in lens.iter().enumerate() {
        r.opt_bytea((n > 0).then(|| &buf[i * MAX..i * MAX + n]));
    }
    r.int((start + k) % SYMBOL_NAMES_PER_UPLOAD + 1);
}

fn schema_versions_row(r: &mut Row<'_>, u: i64) {
    r.int(u);
    r.int(1);
    r.int(1);
}

fn reconcile_row(r: &mut Row<'_>, u: i64) {
    r.int(u);
    r.ts(T2022 + u * HOUR);
}

fn dereference_row(r: &mut Row<'_>, seed: u64, u: i64) {
    let mut rng = Rng::new(seed, stream::UPLOAD_CI ^ 0x33, u as u64);
    r.int(u);
    r.int((u - 1) * DOCS_PER_UPLOAD + 1 + rng.below(DOCS_PER_UPLOAD as u64) as i64);
    r.ts(T2022 + u * DAY + rng.below(1_000_000_000) as i64);
}

fn metadata_row(r: &mut Row<'_>, seed: u64, u: i64, tmp: &mut String) {
    let mut rng = Rng::new(seed, stream::UPLOAD_CI, u as u64);
    let (tool, version) = rng.pick(TOOLS);
    tmp.clear();
    let awkward = if rng.chance(1, 10) {
        Some(tricky(&mut rng))
    } else {
        None
    };
    array_literal(
        tmp,
        [
            Some("--verbose"),
            Some("--module-root=."),
            Some("--output=index scip"),
        ]
        .into_iter()
        .chain(awkward.map(Some)),
    );
    r.int(u);
    r.int(u);
    r.raw(tool);
    r.text(version);
    r.text(tmp);
    r.raw(rng.pick(&["UTF8", "UTF8", "UTF16", ""]));
    r.int(1);
}

/// Symbol names form a prefix tree per upload: 16 package roots, then descriptors.
fn symbol_name_row(r: &mut Row<'_>, seed: u64, u: i64, id: i64, tmp: &mut String) {
    let mut rng = Rng::new(seed, stream::SYMBOL_NAME, ((u as u64) << 16) | id as u64);
    tmp.clear();
    let prefix = if id <= ROOT_SYMBOL_NAMES {
        let (tool, _) = rng.pick(TOOLS);
        let _ = write!(
            tmp,
            "{tool} gomod github.com/org-{u}/repo-{u} v1.{id}.0 `{}/{}`/",
            rng.pick(DIRS),
            rng.pick(WORDS)
        );
        None
    } else {
        let word = rng.pick(WORDS);
        let _ = match rng.below(20) {
            0..=7 => write!(tmp, "{word}_{id}()."),
            8..=13 => write!(tmp, "{}{id}#", capital(word)),
            14..=17 => write!(tmp, "{word}{id}."),
            18 => write!(tmp, "`{} {id}`.", rng.pick(UNICODE_WORDS)),
            _ => write!(tmp, "`{}`{id}.", tricky(&mut rng)),
        };
        Some(1 + rng.below(id as u64 - 1) as i64)
    };
    r.int(id);
    r.int(u);
    r.text(tmp);
    r.opt_int(prefix);
}

fn capital(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    let mut cs = word.chars();
    if let Some(c) = cs.next() {
        out.extend(c.to_uppercase());
        out.push_str(cs.as_str());
    }
    out
}

fn rockskip_repo_row(r: &mut Row<'_>, seed: u64, u: i64, tmp: &mut String) {
    // Repository u of the frontend naming scheme: names are unique per id.
    repo_info(seed, u, tmp);
    r.int(u);
    r.text(tmp);
    r.ts(T2022 + u * 3 * HOUR);
}

fn ancestry_row(r: &mut Row<'_>, seed: u64, u: i64, k: i64, tmp: &mut String) {
    let id = (u - 1) * COMMITS_PER_REPO + k + 1;
    let mut rng = Rng::new(seed, stream::ROCKSKIP, id as u64);
    tmp.clear();
    commit_sha(&mut rng, id as u64, tmp);
    r.int(id);
    r.int(u);
    r.raw(tmp);
    r.int(k);
    r.int(if k == 0 { 0 } else { id - 1 });
}

fn rockskip_symbol_row(r: &mut Row<'_>, seed: u64, u: i64, k: i64, path: &mut String) {
    let id = (u - 1) * ROCKSKIP_SYMBOLS_PER_REPO + k + 1;
    let mut rng = Rng::new(seed, stream::ROCKSKIP ^ 0x99, id as u64);
    let first = (u - 1) * COMMITS_PER_REPO + 1;
    let added = first + rng.below(COMMITS_PER_REPO as u64) as i64;
    let deleted = rng.chance(1, 5).then(|| added + 1);
    doc_path(seed, (u - 1) * DOCS_PER_UPLOAD + 1 + k, path);
    let name = if rng.chance(1, 50) {
        tricky(&mut rng)
    } else {
        rng.pick(WORDS)
    };
    r.int(id);
    r.int_array([added]);
    r.int_array(deleted);
    r.int(u);
    r.text(path);
    r.text(name);
}
