//! POSIX shell quoting for printed commands. Display only: nothing here is
//! ever handed to a shell by this crate.

use std::borrow::Cow;

/// Characters that never need quoting in a POSIX shell word (the set src-cli
/// uses too).
fn is_safe(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'_' | b'.' | b'/' | b':' | b'=' | b'@' | b'%' | b'+' | b','
        )
}

/// Quote `s` so a POSIX shell reads it back as exactly one word.
///
/// Words made only of safe characters stay bare; everything else is wrapped
/// in single quotes, with `'` written as `'\''`. A leading `=` is quoted
/// because zsh expands `=word` to a path.
pub fn quote(s: &str) -> Cow<'_, str> {
    if !s.is_empty() && s.bytes().all(is_safe) && !s.starts_with('=') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    Cow::Owned(out)
}

/// Quote a command's first word: like [`quote`], but a word containing `=`
/// is quoted as well, or the shell would take it for a variable assignment.
pub fn quote_program(s: &str) -> Cow<'_, str> {
    if s.contains('=') {
        let mut q = quote(s).into_owned();
        if !q.starts_with('\'') {
            q = format!("'{q}'");
        }
        return Cow::Owned(q);
    }
    quote(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote("--username=sg"), "--username=sg");
        assert_eq!(quote("src-snapshot/pgsql.sql"), "src-snapshot/pgsql.sql");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), "'it'\\''s'");
        assert_eq!(quote("$(touch /tmp/x)"), "'$(touch /tmp/x)'");
        assert_eq!(quote("`id`"), "'`id`'");
        assert_eq!(quote("~root"), "'~root'");
        assert_eq!(quote("=ls"), "'=ls'");
        assert_eq!(quote("café"), "'café'");
        assert_eq!(quote_program("pg_dump"), "pg_dump");
        assert_eq!(quote_program("/opt/a=b/pg_dump"), "'/opt/a=b/pg_dump'");
        assert_eq!(quote_program("/opt/a b=c/pg_dump"), "'/opt/a b=c/pg_dump'");
    }

    /// Every quoted word reads back as itself through a real shell.
    #[test]
    fn round_trips_through_sh() {
        let words = [
            "plain",
            "",
            "it's",
            "a'b'c",
            "$(touch /tmp/pgdump-shell-test)",
            "`id`",
            "; echo hi",
            "\"dq\"",
            "back\\slash",
            "*",
            "~",
            "=ls",
            "héllo wörld",
            "!bang",
        ];
        let script: Vec<String> = words
            .iter()
            .map(|w| format!("printf '%s\\0' {}", quote(w)))
            .collect();
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(script.join("; "))
            .output()
            .expect("run sh");
        assert!(out.status.success());
        let got: Vec<&[u8]> = out.stdout.split(|b| *b == 0).collect();
        for (i, w) in words.iter().enumerate() {
            assert_eq!(got[i], w.as_bytes(), "word {w:?}");
        }
    }
}
