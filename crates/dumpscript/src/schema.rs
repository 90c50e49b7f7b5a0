//! Column types out of `CREATE TABLE` statements, so COPY data can be
//! fingerprinted with the right canonical form per column.

use std::collections::HashMap;

use crate::tokens::{tokenize, Token};

/// Column names and type texts per table, as the dump declares them.
#[derive(Debug, Default)]
pub struct TableColumns {
    tables: HashMap<String, Vec<(String, String)>>,
}

/// Words that end a column's type in a column definition.
const TYPE_END: &[&str] = &[
    "DEFAULT",
    "NOT",
    "NULL",
    "COLLATE",
    "CONSTRAINT",
    "GENERATED",
    "CHECK",
    "REFERENCES",
    "PRIMARY",
    "UNIQUE",
    "STORAGE",
    "COMPRESSION",
];
/// Words that start a table constraint rather than a column.
const TABLE_CONSTRAINT: &[&str] = &[
    "CONSTRAINT",
    "CHECK",
    "UNIQUE",
    "PRIMARY",
    "FOREIGN",
    "EXCLUDE",
    "LIKE",
];

impl TableColumns {
    /// Records the columns of a `CREATE TABLE` statement; ignores anything else.
    /// Returns false when the statement is not a CREATE TABLE.
    pub fn observe(&mut self, stmt: &[u8]) -> bool {
        match tokenize(stmt) {
            Ok(toks) => self.observe_tokens(&toks),
            Err(_) => false,
        }
    }

    /// [`TableColumns::observe`] for a statement already tokenized.
    pub fn observe_tokens(&mut self, toks: &[Token]) -> bool {
        let Some(mut i) = create_table_name_at(toks) else {
            return false;
        };
        let Some((name, next)) = qualified_name(toks, i) else {
            return false;
        };
        i = next;
        let mut cols: Vec<(String, String)> = Vec::new();
        if toks.get(i).is_some_and(|t| t.is_kw("PARTITION")) && toks.get(i + 1).is_some_and(|t| t.is_kw("OF"))
        {
            if let Some((parent, _)) = qualified_name(toks, i + 2) {
                cols = self.tables.get(&parent).cloned().unwrap_or_default();
            }
            self.tables.insert(name, cols);
            return true;
        }
        if toks.get(i) == Some(&Token::Punct('(')) {
            let (elements, after) = split_elements(toks, i + 1);
            for el in elements {
                if let Some(col) = column_def(el) {
                    cols.push(col);
                }
            }
            i = after;
        }
        // INHERITS (parent, …): inherited columns come first in COPY order.
        if toks.get(i).is_some_and(|t| t.is_kw("INHERITS")) && toks.get(i + 1) == Some(&Token::Punct('(')) {
            let mut inherited: Vec<(String, String)> = Vec::new();
            let mut j = i + 2;
            while let Some((parent, next)) = qualified_name(toks, j) {
                for c in self.tables.get(&parent).cloned().unwrap_or_default() {
                    if !inherited.iter().any(|(n, _)| *n == c.0) {
                        inherited.push(c);
                    }
                }
                j = next;
                if toks.get(j) == Some(&Token::Punct(',')) {
                    j += 1;
                } else {
                    break;
                }
            }
            cols.retain(|(n, _)| !inherited.iter().any(|(m, _)| m == n));
            inherited.extend(cols);
            cols = inherited;
        }
        self.tables.insert(name, cols);
        true
    }

    /// Type texts for `columns` of `table` ("" where unknown). With no
    /// columns given, all of the table's columns in order.
    pub fn types_for(&self, table: &str, columns: &[String]) -> (Vec<String>, Vec<String>) {
        let known = self.tables.get(table);
        if columns.is_empty() {
            let cols = known.cloned().unwrap_or_default();
            return cols.into_iter().unzip();
        }
        let types = columns
            .iter()
            .map(|c| {
                known
                    .and_then(|k| k.iter().find(|(n, _)| n == c))
                    .map(|(_, t)| t.clone())
                    .unwrap_or_default()
            })
            .collect();
        (columns.to_vec(), types)
    }
}

/// Index of the table name in `CREATE [GLOBAL|LOCAL] [TEMP|UNLOGGED] TABLE [IF NOT EXISTS] name`.
fn create_table_name_at(toks: &[Token]) -> Option<usize> {
    if !toks.first()?.is_kw("CREATE") {
        return None;
    }
    let mut i = 1;
    while toks.get(i).is_some_and(|t| {
        ["GLOBAL", "LOCAL", "TEMP", "TEMPORARY", "UNLOGGED"]
            .iter()
            .any(|k| t.is_kw(k))
    }) {
        i += 1;
    }
    if !toks.get(i)?.is_kw("TABLE") {
        return None;
    }
    i += 1;
    if toks.get(i).is_some_and(|t| t.is_kw("IF")) {
        i += 3;
    }
    Some(i)
}

/// A possibly schema-qualified name at `i`, unquoted and joined by `.`.
pub(crate) fn qualified_name(toks: &[Token], mut i: usize) -> Option<(String, usize)> {
    let mut name = toks.get(i)?.ident()?;
    i += 1;
    while toks.get(i) == Some(&Token::Punct('.')) {
        name.push('.');
        name.push_str(&toks.get(i + 1)?.ident()?);
        i += 2;
    }
    Some((name, i))
}

/// Splits the tokens after an opening parenthesis at top-level commas, up to
/// the matching close; returns the elements and the index after the `)`.
fn split_elements(toks: &[Token], start: usize) -> (Vec<&[Token]>, usize) {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut el_start = start;
    let mut i = start;
    while i < toks.len() {
        match toks[i] {
            Token::Punct('(') | Token::Punct('[') => depth += 1,
            Token::Punct(']') => depth -= 1,
            Token::Punct(')') if depth == 0 => {
                if i > el_start {
                    out.push(&toks[el_start..i]);
                }
                return (out, i + 1);
            }
            Token::Punct(')') => depth -= 1,
            Token::Punct(',') if depth == 0 => {
                out.push(&toks[el_start..i]);
                el_start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    (out, i)
}

/// `"name" type …` → (name, type text).
fn column_def(el: &[Token]) -> Option<(String, String)> {
    let first = el.first()?;
    if let Token::Word(_) = first {
        if TABLE_CONSTRAINT.iter().any(|k| first.is_kw(k)) {
            return None;
        }
    }
    let name = first.ident()?;
    let mut ty = String::new();
    let mut depth = 0;
    for t in &el[1..] {
        if depth == 0 && TYPE_END.iter().any(|k| t.is_kw(k)) {
            break;
        }
        match t {
            Token::Punct('(') => {
                depth += 1;
                ty.push('(');
            }
            Token::Punct(')') => {
                depth -= 1;
                ty.push(')');
            }
            Token::Punct(c) => ty.push(*c),
            Token::Word(w) | Token::Number(w) => {
                if !ty.is_empty() && !ty.ends_with(['.', '(', '[']) {
                    ty.push(' ');
                }
                ty.push_str(w);
            }
            Token::QuotedIdent(w) => {
                if !ty.is_empty() && !ty.ends_with(['.', '(', '[']) {
                    ty.push(' ');
                }
                ty.push('"');
                ty.push_str(w);
                ty.push('"');
            }
            Token::Str(_) | Token::Dollar(_) => {}
        }
    }
    Some((name, ty))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::ColumnKind;

    #[test]
    fn reads_columns_of_pg_dump_ddl() {
        let mut t = TableColumns::default();
        assert!(t.observe(
            b"CREATE TABLE \"public\".\"series_points\" (\n    \"series_id\" \"text\" NOT NULL,\n    \"time\" timestamp with time zone NOT NULL,\n    \"value\" double precision NOT NULL,\n    \"tags\" \"text\"[] DEFAULT '{}'::\"text\"[],\n    \"n\" numeric(10,2),\n    CONSTRAINT \"c\" CHECK (((\"value\" > (0)::double precision)))\n);"
        ));
        let (cols, types) = t.types_for("public.series_points", &[]);
        assert_eq!(cols, ["series_id", "time", "value", "tags", "n"]);
        let kinds: Vec<ColumnKind> = types.iter().map(|t| ColumnKind::from_type_name(t)).collect();
        assert_eq!(
            kinds,
            [
                ColumnKind::Raw,
                ColumnKind::Timestamptz,
                ColumnKind::Float8,
                ColumnKind::Raw,
                ColumnKind::Raw
            ]
        );
        let (_, types) = t.types_for("public.series_points", &["value".into(), "missing".into()]);
        assert_eq!(types, ["double precision", ""]);
        assert!(!t.observe(b"CREATE INDEX i ON t (a);"));
    }

    #[test]
    fn inheritance_and_partitions() {
        let mut t = TableColumns::default();
        t.observe(b"CREATE TABLE p (a real, b int);");
        t.observe(b"CREATE TABLE c (x timestamptz) INHERITS (p);");
        t.observe(b"CREATE TABLE part PARTITION OF p FOR VALUES IN (1);");
        assert_eq!(t.types_for("c", &[]).0, ["a", "b", "x"]);
        assert_eq!(t.types_for("part", &[]).1, ["real", "int"]);
    }
}
