//! src-cli compatibility for flags: Go's flag package accepts `-flag=v` and
//! `-flag v` for long names. clap only knows `--flag`, so long names written
//! with one dash are rewritten before parsing.

use std::collections::HashSet;
use std::ffi::OsString;

/// Every long flag name of `cmd` and its subcommands.
fn long_names(cmd: &clap::Command, out: &mut HashSet<String>) {
    for a in cmd.get_arguments() {
        if let Some(l) = a.get_long() {
            out.insert(l.to_string());
        }
        if let Some(aliases) = a.get_all_aliases() {
            out.extend(aliases.into_iter().map(str::to_string));
        }
    }
    out.insert("help".into());
    out.insert("version".into());
    for sub in cmd.get_subcommands() {
        long_names(sub, out);
    }
}

/// Rewrites `-name[=v]` to `--name[=v]` when `name` is a long flag.
pub fn normalize(cmd: &clap::Command, args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    let mut names = HashSet::new();
    long_names(cmd, &mut names);
    let mut after_dashdash = false;
    args.into_iter()
        .map(|a| {
            if after_dashdash {
                return a;
            }
            let Some(s) = a.to_str() else { return a };
            if s == "--" {
                after_dashdash = true;
                return a;
            }
            if let Some(rest) = s.strip_prefix('-') {
                if !rest.starts_with('-') {
                    let name = rest.split('=').next().unwrap_or_default();
                    if name.len() > 1 && names.contains(name) {
                        return OsString::from(format!("-{s}"));
                    }
                }
            }
            a
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_style_flags_become_gnu_style() {
        let cmd = clap::Command::new("x")
            .arg(clap::Arg::new("dir").long("dir"))
            .arg(clap::Arg::new("v").short('v').action(clap::ArgAction::Count));
        let got = normalize(
            &cmd,
            ["x", "-dir=a", "-dir", "b", "--dir=c", "-v", "-x", "--", "-dir"].map(OsString::from),
        );
        let got: Vec<_> = got.iter().map(|s| s.to_string_lossy().into_owned()).collect();
        assert_eq!(
            got,
            ["x", "--dir=a", "--dir", "b", "--dir=c", "-v", "-x", "--", "-dir"]
        );
    }
}
