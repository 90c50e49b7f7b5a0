//! `notice add [--message=…]` / `notice remove [--message=…]` / `notice status`:
//! the runbook's site notice in global settings.

use anyhow::Context;

use super::summary::{report, ApiFlags};
use crate::{exit, Globals};

/// Flags of `notice`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "The notice is a non-dismissible entry of `notices` in global settings. It is found again by its message, \
so pass the same --message to remove it. Every other setting, comment and notice is kept byte for byte; edits carry \
lastID, so a concurrent edit is never overwritten. Adding twice or removing twice changes nothing."
)]
pub struct NoticeCmd {
    #[command(subcommand)]
    pub action: NoticeAction,
}

/// What to do with the notice.
#[derive(clap::Subcommand, Debug)]
pub enum NoticeAction {
    /// Put the migration notice up.
    Add(NoticeArgs),
    /// Take the migration notice down.
    Remove(NoticeArgs),
    /// Say whether the notice is up (exit 0 up, 1 not up).
    Status(NoticeArgs),
}

/// Flags of each notice action.
#[derive(clap::Args, Debug)]
pub struct NoticeArgs {
    #[command(flatten)]
    pub api: ApiFlags,
    /// The notice text (Markdown).
    #[arg(long, default_value = sgapi::DEFAULT_MESSAGE, hide_default_value = true)]
    pub message: String,
}

/// Runs `notice`.
pub fn run(cmd: NoticeCmd, g: &Globals) -> anyhow::Result<u8> {
    let (args, verb) = match &cmd.action {
        NoticeAction::Add(a) => (a, "add"),
        NoticeAction::Remove(a) => (a, "remove"),
        NoticeAction::Status(a) => (a, "status"),
    };
    let client = match args.api.client() {
        Ok(c) => c,
        Err(e) => return Ok(report(e, "connecting to Sourcegraph")),
    };
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    if verb == "status" {
        return match rt.block_on(sgapi::notice::notice_present(&client, &args.message)) {
            Ok(up) => {
                if g.json {
                    println!("{}", serde_json::json!({ "up": up }));
                } else {
                    println!(
                        "the notice is {}on {}",
                        if up { "" } else { "not " },
                        client.endpoint()
                    );
                }
                Ok(if up { exit::OK } else { exit::FAILED })
            }
            Err(e) => Ok(report(e, "reading global settings")),
        };
    }
    let result = rt.block_on(async {
        if verb == "add" {
            sgapi::add_notice(&client, &args.message).await
        } else {
            sgapi::remove_notice(&client, &args.message).await
        }
    });
    let out = match result {
        Ok(o) => o,
        Err(e) => return Ok(report(e, &format!("notice {verb} on {}", client.endpoint()))),
    };
    if g.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(exit::OK);
    }
    let ids = |a: Option<i64>, b: Option<i64>| {
        let f = |x: Option<i64>| x.map_or_else(|| "none".into(), |x| x.to_string());
        format!("settings {} → {}", f(a), f(b))
    };
    match (verb, out.changed) {
        ("add", true) => println!(
            "notice added on {} ({})",
            client.endpoint(),
            ids(out.settings_id_before, out.settings_id_after)
        ),
        ("add", false) => println!("notice already up on {}; nothing changed", client.endpoint()),
        (_, true) => println!(
            "notice removed on {} ({} cop{}; {})",
            client.endpoint(),
            out.count,
            if out.count == 1 { "y" } else { "ies" },
            ids(out.settings_id_before, out.settings_id_after)
        ),
        (_, false) => println!("no such notice on {}; nothing changed", client.endpoint()),
    }
    if out.changed && !out.rest_unchanged {
        eprintln!("warning: the server changed the text of global settings beyond the notice (probably reformatted it); look them over");
    }
    Ok(exit::OK)
}
