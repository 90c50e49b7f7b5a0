//! The dump-script engine of src-snapshot: reads plain `pg_dump` scripts as
//! psql does — statements, psql meta-commands and COPY blocks — in one
//! streaming pass with bounded memory, and
//!
//! - checks that a script is a complete pg_dump (header, closing comment,
//!   every COPY block ended, every quote closed);
//! - sanitizes it for a target ([`sanitize::Profile`]), commenting out whole
//!   statements and reporting each change, never touching COPY data or
//!   function bodies;
//! - fingerprints every table (row count and an order-independent content
//!   hash, see [`fingerprint`]) so the loaded database can be compared to it.
//!
//! # Example
//!
//! ```
//! use dumpscript::{scan, ScanOptions, SanitizeOptions};
//!
//! let dump = b"--\n-- PostgreSQL database dump\n--\n\
//! SET transaction_timeout = 0;\n\
//! CREATE TABLE t (id integer, at timestamp with time zone);\n\
//! COPY t (id, at) FROM stdin;\n1\t2024-01-01 00:00:00+00\n\\.\n\
//! --\n-- PostgreSQL database dump complete\n--\n";
//! let opts = ScanOptions {
//!     sanitize: Some(SanitizeOptions::cloudsql(16)),
//!     fingerprint: true,
//!     ..ScanOptions::default()
//! };
//! let mut out = Vec::new();
//! let report = scan(&dump[..], Some(&mut out), &opts, &mut |_| {}).unwrap();
//! assert_eq!(report.changes[0].rule, "setting");
//! assert!(String::from_utf8(out).unwrap().contains("-- SET transaction_timeout = 0;"));
//! assert_eq!(report.tables[0].table, "t");
//! assert_eq!(report.tables[0].rows, 1);
//! ```
#![deny(missing_docs)]

mod error;
pub mod fingerprint;
pub mod lexer;
pub mod sanitize;
mod scan;
pub mod schema;
pub mod sections;
pub mod toc;
pub mod tokens;

pub use error::{LexError, ScanError};
pub use fingerprint::{ColumnKind, Fingerprint, TableHasher, FINGERPRINT_VERSION};
pub use sanitize::{Change, ExtensionPolicy, Profile, SanitizeOptions};
pub use scan::{scan, ScanOptions, ScanReport, SourcegraphVersion, TableData};
pub use sections::{parse_setval, Piece, PostKind, SequenceValue, SplitSummary, Splitter};
pub use toc::{parse_toc, Section, TocEntry};
