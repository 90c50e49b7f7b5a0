//! A small tokenizer for the text of one statement: enough to classify it
//! (its leading keywords) and read names and column types out of DDL.

/// A token of SQL text. Comments and whitespace are skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// A bare word (keyword or unquoted identifier), as written.
    Word(String),
    /// A `"quoted"` identifier, unquoted (doubled quotes undone).
    QuotedIdent(String),
    /// A string literal's content (any prefix such as `E` is dropped;
    /// escapes are not interpreted).
    Str(String),
    /// A dollar-quoted string's content.
    Dollar(String),
    /// A number or other literal text.
    Number(String),
    /// One punctuation character: `( ) , ; . [ ]` and operators.
    Punct(char),
}

impl Token {
    /// True for a bare word equal to `kw`, ignoring ASCII case.
    pub fn is_kw(&self, kw: &str) -> bool {
        matches!(self, Token::Word(w) if w.eq_ignore_ascii_case(kw))
    }

    /// The identifier this token names: bare words fold to lower case as
    /// PostgreSQL does; quoted identifiers keep their case.
    pub fn ident(&self) -> Option<String> {
        match self {
            Token::Word(w) => Some(w.to_lowercase()),
            Token::QuotedIdent(w) => Some(w.clone()),
            _ => None,
        }
    }
}

/// The text is not valid UTF-8 where a name or keyword stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidUtf8;

/// Tokenizes a whole statement. String and dollar-quoted contents are
/// decoded lossily (they are never used as names).
///
/// # Errors
/// [`InvalidUtf8`] when a word or quoted identifier is not UTF-8.
pub fn tokenize(text: &[u8]) -> Result<Vec<Token>, InvalidUtf8> {
    tokenize_limit(text, usize::MAX)
}

/// Like [`tokenize`], but stops after `limit` tokens.
///
/// # Errors
/// [`InvalidUtf8`] when a word or quoted identifier is not UTF-8.
pub fn tokenize_limit(text: &[u8], limit: usize) -> Result<Vec<Token>, InvalidUtf8> {
    let b = text;
    let n = b.len();
    let mut i = 0;
    let mut out = Vec::new();
    let utf8 = |s: &[u8]| std::str::from_utf8(s).map(str::to_owned).map_err(|_| InvalidUtf8);
    while i < n && out.len() < limit {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c == b'-' && b.get(i + 1) == Some(&b'-') {
            i = memchr::memchr(b'\n', &b[i..]).map_or(n, |j| i + j + 1);
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            i = crate::lexer::block_comment_end(&b[i..]).map_or(n, |len| i + len);
        } else if c == b'"' {
            let (content, next) = quoted(b, i, b'"', false);
            out.push(Token::QuotedIdent(utf8(&content)?));
            i = next;
        } else if c == b'\'' {
            let (content, next) = quoted(b, i, b'\'', false);
            out.push(Token::Str(String::from_utf8_lossy(&content).into_owned()));
            i = next;
        } else if c == b'$' && dollar_tag_len(&b[i..]).is_some() {
            let tag_len = dollar_tag_len(&b[i..]).unwrap_or(1);
            let tag = &b[i..i + tag_len];
            let body_start = i + tag_len;
            match memchr::memmem::find(&b[body_start..], tag) {
                Some(j) => {
                    out.push(Token::Dollar(
                        String::from_utf8_lossy(&b[body_start..body_start + j]).into_owned(),
                    ));
                    i = body_start + j + tag_len;
                }
                None => {
                    out.push(Token::Dollar(
                        String::from_utf8_lossy(&b[body_start..]).into_owned(),
                    ));
                    i = n;
                }
            }
        } else if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 {
            let start = i;
            while i < n && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'$' || b[i] >= 0x80) {
                i += 1;
            }
            // E'…', B'…', X'…', U&'…' string prefixes.
            let word = &b[start..i];
            if i < n && b[i] == b'\'' && word.len() == 1 {
                let esc = word.eq_ignore_ascii_case(b"e");
                let (content, next) = quoted(b, i, b'\'', esc);
                out.push(Token::Str(String::from_utf8_lossy(&content).into_owned()));
                i = next;
            } else {
                out.push(Token::Word(utf8(word)?));
            }
        } else if c.is_ascii_digit() {
            let start = i;
            while i < n && (b[i].is_ascii_alphanumeric() || b[i] == b'.') {
                i += 1;
            }
            out.push(Token::Number(String::from_utf8_lossy(&b[start..i]).into_owned()));
        } else {
            out.push(Token::Punct(c as char));
            i += 1;
        }
    }
    Ok(out)
}

/// Content of a quoted run starting at `b[start] == q`, and the index after it.
fn quoted(b: &[u8], start: usize, q: u8, backslash_escapes: bool) -> (Vec<u8>, usize) {
    let mut out = Vec::new();
    let mut i = start + 1;
    while i < b.len() {
        let c = b[i];
        if backslash_escapes && c == b'\\' && i + 1 < b.len() {
            out.push(c);
            out.push(b[i + 1]);
            i += 2;
        } else if c == q {
            if b.get(i + 1) == Some(&q) {
                out.push(q);
                i += 2;
            } else {
                return (out, i + 1);
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    (out, b.len())
}

/// Length of a `$tag$` opener at the start of `b`, if it is one.
fn dollar_tag_len(b: &[u8]) -> Option<usize> {
    let mut j = 1;
    if b.get(1).is_some_and(|c| c.is_ascii_digit()) {
        return None;
    }
    while j < b.len() {
        let c = b[j];
        if c == b'$' {
            return Some(j + 1);
        }
        if !(c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80) {
            return None;
        }
        j += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_of_a_statement() {
        let t = tokenize(b"COMMENT ON EXTENSION \"pg_trgm\" IS E'it''s \\' x'; -- c\n").expect("utf8");
        assert_eq!(
            t,
            [
                Token::Word("COMMENT".into()),
                Token::Word("ON".into()),
                Token::Word("EXTENSION".into()),
                Token::QuotedIdent("pg_trgm".into()),
                Token::Word("IS".into()),
                Token::Str("it's \\' x".into()),
                Token::Punct(';'),
            ]
        );
    }

    #[test]
    fn invalid_utf8_in_a_name_is_an_error() {
        assert_eq!(tokenize(b"CREATE TABLE \"a\xff\" ();"), Err(InvalidUtf8));
        // …but not inside a string literal.
        assert!(tokenize(b"SELECT '\xff';").is_ok());
    }
}
