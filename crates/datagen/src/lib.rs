//! Deterministic, Sourcegraph-shaped data for the three Sourcegraph databases.
//!
//! [`generate`] writes a psql script of `COPY ... FROM stdin;` blocks (pg_dump's data
//! format) that loads into a database where the matching squashed schema
//! (`testdata/sourcegraph/<db>.sql`) was loaded first. The same options always give the
//! same bytes; the output streams with constant memory; its size is close to the request.

use std::fmt;
use std::io;
use std::str::FromStr;

mod codeinsights;
mod codeintel;
mod content;
mod copy;
mod frontend;
mod rng;

/// Which Sourcegraph database to generate data for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Db {
    /// The frontend ("pgsql", "primary") database.
    Frontend,
    /// The code intelligence database.
    Codeintel,
    /// The code insights database.
    Codeinsights,
}

impl Db {
    /// All three databases.
    pub const ALL: [Db; 3] = [Db::Frontend, Db::Codeintel, Db::Codeinsights];

    /// The canonical name (`frontend`, `codeintel`, `codeinsights`).
    pub fn name(self) -> &'static str {
        match self {
            Db::Frontend => "frontend",
            Db::Codeintel => "codeintel",
            Db::Codeinsights => "codeinsights",
        }
    }
}

impl fmt::Display for Db {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown database name.
#[derive(Debug, thiserror::Error)]
#[error("unknown database {0:?} (expected frontend, codeintel or codeinsights)")]
pub struct UnknownDb(String);

impl FromStr for Db {
    type Err = UnknownDb;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "frontend" | "pgsql" | "primary" => Ok(Db::Frontend),
            "codeintel" | "codeintel-db" => Ok(Db::Codeintel),
            "codeinsights" | "codeinsights-db" => Ok(Db::Codeinsights),
            _ => Err(UnknownDb(s.to_string())),
        }
    }
}

/// What to generate.
#[derive(Clone, Debug)]
pub struct GenOptions {
    /// Target database.
    pub db: Db,
    /// Approximate size of the script in bytes.
    pub size_bytes: u64,
    /// Seed: the same seed and size give byte-identical output.
    pub seed: u64,
}

/// Rows and bytes written for one table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableStats {
    /// Table name (schema `public`).
    pub table: &'static str,
    /// Rows written by the script (rows that triggers add are not counted).
    pub rows: u64,
    /// Script bytes of its COPY block or statements.
    pub bytes: u64,
}

/// What [`generate`] wrote.
#[derive(Clone, Debug)]
pub struct GenStats {
    /// The database generated.
    pub db: Db,
    /// Total script size in bytes.
    pub bytes: u64,
    /// Per-table rows, in script order.
    pub tables: Vec<TableStats>,
}

impl GenStats {
    /// Rows written for `table`, if the script has it.
    pub fn rows(&self, table: &str) -> Option<u64> {
        self.tables.iter().find(|t| t.table == table).map(|t| t.rows)
    }

    /// Total rows written.
    pub fn total_rows(&self) -> u64 {
        self.tables.iter().map(|t| t.rows).sum()
    }
}

/// Writes the data script for `opts.db` to `out` and returns what it wrote.
///
/// Output is buffered internally and reaches `out` in chunks of about 256 KiB, so `out`
/// needs no `BufWriter`; memory use does not grow with the size. The only errors are
/// those of `out`.
pub fn generate(opts: &GenOptions, out: &mut dyn io::Write) -> io::Result<GenStats> {
    let mut script = copy::Script::new(out);
    match opts.db {
        Db::Frontend => frontend::generate(&mut script, opts.size_bytes, opts.seed)?,
        Db::Codeintel => codeintel::generate(&mut script, opts.size_bytes, opts.seed)?,
        Db::Codeinsights => codeinsights::generate(&mut script, opts.size_bytes, opts.seed)?,
    }
    let (tables, bytes) = script.finish()?;
    Ok(GenStats {
        db: opts.db,
        bytes,
        tables,
    })
}

/// A size that [`parse_size`] cannot read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SizeError {
    /// Nothing to parse.
    #[error("empty size")]
    Empty,
    /// The number part is not a non-negative decimal number.
    #[error("invalid number in size {0:?}")]
    Number(String),
    /// The unit is not one of B, K, KB, KiB, M, MB, MiB, G, GB, GiB, T, TB, TiB.
    #[error("unknown unit {0:?} in size (use B, KB, MB, GB or TB)")]
    Unit(String),
    /// The size does not fit in 64 bits.
    #[error("size {0:?} is too large")]
    Overflow(String),
}

/// Parses a size such as `300MB`, `2GB`, `1G`, `1.5 GiB`, `512k` or `1000` (bytes).
///
/// Units are binary and case-insensitive: K, KB and KiB all mean 1024 bytes
/// (as in PostgreSQL's `pg_size_pretty`).
pub fn parse_size(s: &str) -> Result<u64, SizeError> {
    let t = s.trim();
    if t.is_empty() {
        return Err(SizeError::Empty);
    }
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let unit = unit.trim();
    let mult: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => return Err(SizeError::Unit(unit.to_string())),
    };
    if num.is_empty() || num.matches('.').count() > 1 || num == "." {
        return Err(SizeError::Number(s.to_string()));
    }
    let (int_part, frac_part) = num.split_once('.').unwrap_or((num, ""));
    let int: u64 = if int_part.is_empty() {
        0
    } else {
        int_part.parse().map_err(|_| SizeError::Overflow(s.to_string()))?
    };
    let mut total = int
        .checked_mul(mult)
        .ok_or_else(|| SizeError::Overflow(s.to_string()))?;
    if !frac_part.is_empty() {
        // Fractions are exact enough with 9 digits of precision.
        let digits: String = frac_part.chars().take(9).collect();
        let scale = 10u128.pow(digits.len() as u32);
        let frac: u128 = digits.parse().map_err(|_| SizeError::Number(s.to_string()))?;
        let extra = (frac * mult as u128 / scale) as u64;
        total = total
            .checked_add(extra)
            .ok_or_else(|| SizeError::Overflow(s.to_string()))?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("300MB"), Ok(300 << 20));
        assert_eq!(parse_size("2GB"), Ok(2 << 30));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("1.5 GiB"), Ok(3 << 29));
        assert_eq!(parse_size("512k"), Ok(512 << 10));
        assert_eq!(parse_size(" 1000 "), Ok(1000));
        assert_eq!(parse_size("7b"), Ok(7));
        assert_eq!(parse_size(""), Err(SizeError::Empty));
        assert!(matches!(parse_size("MB"), Err(SizeError::Number(_))));
        assert!(matches!(parse_size("1.2.3MB"), Err(SizeError::Number(_))));
        assert!(matches!(parse_size("10 parsecs"), Err(SizeError::Unit(_))));
        assert!(matches!(parse_size("-5MB"), Err(SizeError::Unit(_))));
        assert!(matches!(parse_size("99999999999TB"), Err(SizeError::Overflow(_))));
    }

    #[test]
    fn db_names() {
        assert_eq!("pgsql".parse::<Db>().ok(), Some(Db::Frontend));
        assert_eq!("CodeIntel".parse::<Db>().ok(), Some(Db::Codeintel));
        assert!("nope".parse::<Db>().is_err());
    }
}
