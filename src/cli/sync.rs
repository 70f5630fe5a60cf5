//! `coldspare snapshot`, `sync`, `restore`, `history` and `diff`: the
//! Synchronizer's commands and how their results read.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::bail;
use synchronizer::plan::Plan;
use synchronizer::{PathDiff, SyncOptions, SyncOutcome};

use super::progress::Bar;
use super::{Global, exit, output};

#[derive(Debug, clap::Args)]
pub struct SnapshotArgs {}

#[derive(Debug, clap::Args)]
pub struct SyncArgs {
    /// Show the plan, with diffs (secrets masked); change nothing anywhere.
    #[arg(long)]
    dry_run: bool,
    /// Push this earlier capture (see `coldspare history`) instead of taking a new one.
    #[arg(long, value_name = "REV")]
    to: Option<String>,
    /// Also show unified diffs on a real run (a dry run always shows them).
    #[arg(long)]
    diff: bool,
    /// Apply a plan even when apt would remove packages it does not name
    /// (shown by `--dry-run`); see also sync.allow_dependent_removals.
    #[arg(long)]
    yes: bool,
}

#[derive(Debug, clap::Args)]
pub struct RestoreArgs {
    /// The capture to put back (see `coldspare history`).
    #[arg(long, value_name = "REV")]
    to: String,
    /// The node to restore.
    #[arg(long, value_name = "NODE")]
    node: Option<String>,
    /// Show what would change; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Do not ask for confirmation.
    #[arg(long)]
    yes: bool,
}

#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    /// How many captures to show.
    #[arg(long, short = 'n', default_value_t = 20)]
    limit: usize,
    /// Copy the history back from NODE's copy (every node keeps one), when
    /// this machine lost its own or holds another: the copy is checked
    /// whole and against the other node's; what was here is kept beside it.
    #[arg(long, value_name = "NODE")]
    rebuild_from: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// From this capture (default: the one before TO).
    from: Option<String>,
    /// To this capture (default: the newest).
    to: Option<String>,
    /// Compare the two nodes as they are now (the primary against the secondary).
    #[arg(long, conflicts_with_all = ["from", "to"])]
    live: bool,
}

pub fn snapshot(global: &Global, _args: SnapshotArgs) -> anyhow::Result<ExitCode> {
    let config = global.load()?;
    let out = synchronizer::snapshot(&config, &Bar::new(global.json))?;
    if global.json {
        output::json(&out)?;
    } else {
        // The source is named: after a failover it is not the node the
        // configuration calls primary.
        let from = &config.primary().name;
        match &out.created {
            Some(id) => println!("capture {} of {from}: {}", &id[..10], out.subject),
            None => {
                let head = out.head.as_deref().map(|h| &h[..10]).unwrap_or("-");
                if out.subject.contains(head) {
                    println!("{from}: {}", out.subject)
                } else {
                    println!("{from}: {} ({head})", out.subject)
                }
            }
        }
        if !out.body.is_empty() {
            for line in out.body.lines() {
                println!("  {line}");
            }
        }
        for u in &out.unsettled {
            println!("  {} package {u}", output::red("PROBLEM:"));
        }
    }
    Ok(if out.unsettled.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

pub fn sync(global: &Global, args: SyncArgs) -> anyhow::Result<ExitCode> {
    let config = global.load()?;
    // Before any thread starts: SIGINT and SIGTERM finish the files in
    // flight and stop, instead of killing the sync half-way.
    let stop = cluster::stop::on_signals("finishing the files in flight, then stopping")?;
    let opts = SyncOptions {
        dry_run: args.dry_run,
        to: args.to,
        diffs: args.diff,
        yes: args.yes,
        stop,
        failback: false,
    };
    // The plan is printed before it is applied: an interrupted sync has
    // already said what it was doing.
    let shown = std::cell::Cell::new(false);
    let show = |planned: &SyncOutcome| {
        if !global.json {
            print_head(planned);
            let _ = std::io::stdout().flush();
            shown.set(true);
        }
    };
    if !global.json {
        for p in &config.sync.paths {
            if let Some(why) = synchronizer::own_files::refused_path(&config, p) {
                println!("{} {why}", output::red("NOT SYNCED:"));
            }
        }
    }
    let out = synchronizer::sync(&config, &opts, &Bar::new(global.json), &show)?;
    finish(global, &out, shown.get())
}

pub fn restore(global: &Global, args: RestoreArgs) -> anyhow::Result<ExitCode> {
    let config = global.load()?;
    let node = args.node.unwrap_or_else(|| config.primary().name.clone());
    let stop = cluster::stop::on_signals("finishing the files in flight, then stopping")?;
    if !args.dry_run && !args.yes {
        // Check the capture and the node first, and show what would change.
        let preview = synchronizer::restore(
            &config,
            &args.to,
            &node,
            true,
            &Bar::new(global.json),
            &stop,
        )?;
        if !global.json {
            print_head(&preview);
        }
        if !std::io::stdin().is_terminal() {
            bail!("restoring changes {node}; run it with --dry-run first, then confirm with --yes");
        }
        println!(
            "\nThis puts capture {} back on {node}: the changes above, to its synced files, packages and services.",
            preview.plan.capture
        );
        print!("Type `yes` to go on: ");
        std::io::stdout().flush()?;
        // Read the answer aside, so Ctrl-C (caught for the restore itself)
        // still ends the question at once.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut answer = String::new();
            let _ = std::io::stdin().lock().read_line(&mut answer);
            let _ = tx.send(answer);
        });
        let answer = loop {
            if let Ok(a) = rx.try_recv() {
                break a;
            }
            if stop.sleep(std::time::Duration::from_millis(100)) {
                println!();
                break String::new();
            }
        };
        if answer.trim() != "yes" {
            println!("Nothing was changed.");
            return Ok(exit::from(exit::PROBLEM));
        }
    }
    let out = synchronizer::restore(
        &config,
        &args.to,
        &node,
        args.dry_run,
        &Bar::new(global.json),
        &stop,
    )?;
    let code = finish(global, &out, false)?;
    if !args.dry_run && !global.json && node == config.primary().name && out.ok() {
        println!(
            "next: {} still holds what it had; `coldspare sync` brings it to this state too",
            config.secondary().name
        );
    }
    Ok(code)
}

fn finish(global: &Global, out: &SyncOutcome, plan_shown: bool) -> anyhow::Result<ExitCode> {
    if global.json {
        output::json(out)?;
    } else {
        if !plan_shown {
            print_head(out);
        }
        print_outcome(out);
        print_own_files(out);
    }
    Ok(if out.ok() {
        ExitCode::SUCCESS
    } else {
        exit::from(exit::PROBLEM)
    })
}

/// The capture taken and the plan: what the sync is about to do.
fn print_head(out: &SyncOutcome) {
    if let Some(s) = &out.snapshot {
        match &s.created {
            Some(id) => println!("capture {}: {}", &id[..10], s.subject),
            None => println!("{}", s.subject),
        }
    }
    print_plan(&out.plan, &out.diffs);
}

/// What was applied, refused, or left undone.
fn print_outcome(out: &SyncOutcome) {
    if let Some(why) = &out.refused {
        println!();
        println!("{} {why}", output::red("REFUSED:"));
    }
    let Some(a) = &out.applied else { return };
    println!();
    if out.plan.is_empty() && a.hooks.is_empty() {
        println!(
            "{}: already matches capture {}",
            out.plan.node, out.plan.capture
        );
    } else {
        println!(
            "applied on {}: {} written, {} removed ({} bytes); replaced files kept in backup {}",
            out.plan.node,
            paths(a.written),
            a.removed,
            a.bytes,
            a.backup
        );
    }
    if let Some(acc) = &a.accounts {
        for c in &acc.created {
            println!("  created {c} on {}", out.plan.node);
        }
        for f in &acc.failed {
            println!("  {} {f}", output::red("FAILED"));
        }
    }
    for (path, why) in &a.failed {
        println!("  {} {path}: {why}", output::red("FAILED"));
    }
    if let Some(i) = &a.interrupted {
        println!(
            "{} by {}: the files in flight were finished; {} path{} not written yet ({}{})",
            output::red("INTERRUPTED"),
            i.signal,
            i.left.len(),
            if i.left.len() == 1 { "" } else { "s" },
            i.left
                .iter()
                .take(3)
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
            if i.left.len() > 3 { ", …" } else { "" }
        );
        if !i.hooks_owed.is_empty() {
            println!(
                "  hooks not run yet: {}",
                i.hooks_owed
                    .iter()
                    .map(|h| format!("`{h}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        println!(
            "  {} records the capture as partly applied; the next `coldspare sync` completes it and runs the hooks owed",
            out.plan.node
        );
    }
    for (name, c) in [("packages", &a.packages), ("services", &a.services)] {
        if let Some(c) = c {
            if c.ok {
                println!("  {name}: {}", output::green("ok"));
            } else {
                println!(
                    "  {name}: {} ({})\n{}",
                    output::red("FAILED"),
                    c.outcome,
                    indent(&c.output)
                );
            }
        }
    }
    for h in &a.hooks {
        if h.ok {
            println!("  hook `{}`: {}", h.run, output::green("ok"));
        } else {
            println!(
                "  hook `{}`: {} ({})",
                h.run,
                output::red("FAILED"),
                h.outcome
            );
            println!("{}", indent(&h.output));
            println!(
                "  restored from backup {}: {}",
                a.backup,
                h.restored.join(", ")
            );
        }
    }
    match &out.recorded {
        Some(c) => println!("{} now records capture {}", out.plan.node, &c[..10]),
        None if a.interrupted.is_some() => {}
        None => println!(
            "{}",
            output::red(&format!(
                "{} does NOT match the capture: fix the failures above and sync again",
                out.plan.node
            ))
        ),
    }
    if !out.mirrored.is_empty() {
        println!("history mirrored to {}", out.mirrored.join(", "));
    }
    for skipped in &out.mirror_skipped {
        println!(
            "{}",
            output::red(&format!("history NOT mirrored to {skipped} (skipped)"))
        );
    }
}

/// coldspare's own files on each node: what was (or would be) written so
/// that node can run coldspare by itself. Secrets are named, never shown.
fn print_own_files(out: &SyncOutcome) {
    let dry = out.applied.is_none() && out.refused.is_none();
    for o in &out.own_files {
        if !o.written.is_empty() {
            println!(
                "coldspare's own files {} {} so it can run a failover by itself: {}",
                if dry {
                    "would be written to"
                } else {
                    "written to"
                },
                o.node,
                o.names()
            );
        }
        if !o.removed.is_empty() {
            println!(
                "playbooks {} {} (this machine no longer has them, so both run the same): {}",
                if dry {
                    "would be removed from"
                } else {
                    "removed from"
                },
                o.node,
                o.removed.join(", ")
            );
        }
        for (path, why) in &o.failed {
            println!(
                "{}",
                output::red(&format!(
                    "coldspare's own file {path} NOT written to {}: {why}",
                    o.node
                ))
            );
        }
        for path in &o.missing_here {
            println!(
                "{}",
                output::yellow(&format!(
                    "the configuration names {path}, which this machine lacks: not copied to {}",
                    o.node
                ))
            );
        }
    }
}

fn indent(text: &str) -> String {
    text.trim_end()
        .lines()
        .map(|l| format!("    | {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn print_plan(plan: &Plan, diffs: &[PathDiff]) {
    println!(
        "plan for {} (capture {}): {}",
        plan.node,
        plan.capture,
        plan.summary()
    );
    for f in &plan.files {
        let verb = format!("{:<6}", f.action);
        let details = if f.details.is_empty() {
            String::new()
        } else {
            format!("  ({})", f.details.join(", "))
        };
        println!("  {verb} {}{details}", synchronizer::meta::escape(&f.path));
    }
    for o in &plan.missing_owners {
        if plan.create_owners {
            println!(
                "  {} {o} does not exist on {}: created there before the files are written \
                 (sync.users: create)",
                output::yellow("NOTE"),
                plan.node
            );
        } else {
            println!(
                "  {} {o} does not exist on {}: its files there carry the bare number, and a \
                 service running as it would not start after a failover; create it there with \
                 the same id, or set sync.users: create",
                output::yellow("WARNING"),
                plan.node
            );
        }
    }
    for o in &plan.owners_other_id {
        println!(
            "  {} {o}: the files are owned by the name; the account is left as it is",
            output::yellow("NOTE")
        );
    }
    for a in &plan.packages.actions {
        println!("  package {a}");
    }
    for n in &plan.packages.shipped_notes {
        println!("  package {n}");
    }
    for key in &plan.packages.unavailable {
        if plan.packages.shipped.contains_key(key) {
            continue;
        }
        let Some(a) = plan
            .packages
            .actions
            .iter()
            .find(|a| &a.package.key() == key)
        else {
            continue;
        };
        if plan.packages.ship {
            println!(
                "  {} package {} {} is in none of {}'s package sources: the primary's own \
                 package file is shipped when the sync runs (sync.ship_packages)",
                output::yellow("NOTE"),
                a.package.name,
                a.package.version,
                plan.node
            );
            continue;
        }
        println!(
            "  {} package {} {} is in none of {}'s package sources: installed on the primary \
             from a file, most likely, so apt cannot install it here; set \
             sync.ship_packages: true to ship the primary's own package file",
            output::yellow("WARNING"),
            a.package.name,
            a.package.version,
            plan.node
        );
    }
    for (verb, list) in [
        ("mark manual", &plan.packages.mark_manual),
        ("mark auto", &plan.packages.mark_auto),
        ("hold", &plan.packages.hold),
        ("unhold", &plan.packages.unhold),
    ] {
        for p in list {
            println!("  package {verb} {p}");
        }
    }
    if !plan.packages.extra_kept.is_empty() {
        println!(
            "  ({} extra package{} on {} kept: remove_extra is off)",
            plan.packages.extra_kept.len(),
            if plan.packages.extra_kept.len() == 1 {
                ""
            } else {
                "s"
            },
            plan.node
        );
    }
    if let Some(sim) = &plan.packages.simulation {
        for p in &sim.also_remove {
            println!(
                "  package remove {p}  {}",
                output::red("(apt removes it too: it depends on or conflicts with the plan)")
            );
        }
        for p in &sim.also_install {
            println!("  package install {p}  (apt installs it too: a dependency)");
        }
        if let Some(e) = &sim.error {
            println!(
                "  {} apt could not simulate the package changes, so it may do more than listed: {e}",
                output::yellow("warning:")
            );
        }
    }
    for u in &plan.packages.unsettled {
        println!("  {} package {u}", output::red("PROBLEM:"));
    }
    for s in &plan.services.enable {
        println!("  service enable {s}");
    }
    for s in &plan.services.disable {
        println!("  service disable {s}");
    }
    if !plan.services.extra_kept.is_empty() {
        println!(
            "  ({} service{} enabled only on {} kept, which the primary does not have: remove_extra is off)",
            plan.services.extra_kept.len(),
            if plan.services.extra_kept.len() == 1 {
                ""
            } else {
                "s"
            },
            plan.node
        );
    }
    for h in &plan.hooks {
        println!("  then run `{h}`");
    }
    for d in diffs {
        println!();
        print!("{}", d.text);
        if !d.text.ends_with('\n') {
            println!();
        }
    }
}

pub fn history(global: &Global, args: HistoryArgs) -> anyhow::Result<ExitCode> {
    let config = global.load()?;
    if let Some(node) = &args.rebuild_from {
        let r = synchronizer::rebuild(&config, node)?;
        if global.json {
            output::json(&r)?;
        } else {
            println!(
                "rebuilt the history from {}: {} captures up to {} ({} bytes)",
                r.from, r.captures, r.head, r.bytes
            );
            println!("  {}", r.checked);
            if let Some(kept) = &r.kept {
                println!("  the history that was here is kept in {}", kept.display());
            }
            println!("next: `coldspare sync --dry-run` shows what a sync would do now");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let list = synchronizer::history(&config, args.limit)?;
    if global.json {
        output::json(&list)?;
    } else if list.is_empty() {
        println!("no captures yet; `coldspare snapshot` (or `coldspare sync`) takes the first");
    } else {
        for h in &list {
            println!(
                "{}  {}  {}",
                output::yellow(&h.short),
                h.time.format("%Y-%m-%d %H:%M:%S UTC"),
                h.summary
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn diff(global: &Global, args: DiffArgs) -> anyhow::Result<ExitCode> {
    let config = global.load()?;
    if args.live {
        let opts = SyncOptions {
            dry_run: true,
            diffs: true,
            ..Default::default()
        };
        let out = synchronizer::sync(&config, &opts, &Bar::new(global.json), &|_| {})?;
        if global.json {
            // The plan, and the diffs the text shows.
            let mut doc = serde_json::to_value(&out.plan)?;
            doc["diffs"] = serde_json::to_value(&out.diffs)?;
            output::json(&doc)?;
        } else {
            println!(
                "live difference: what a sync would change on {} to match {} now",
                config.secondary().name,
                config.primary().name
            );
            print_plan(&out.plan, &out.diffs);
        }
        return Ok(if out.plan.is_empty() {
            ExitCode::SUCCESS
        } else {
            exit::from(exit::PROBLEM)
        });
    }
    let d = synchronizer::diff_captures(&config, args.from.as_deref(), args.to.as_deref())?;
    if global.json {
        output::json(&d)?;
    } else {
        println!("capture {} → {}", d.from, d.to);
        for f in &d.files {
            let details = if f.details.is_empty() {
                String::new()
            } else {
                format!("  ({})", f.details.join(", "))
            };
            println!(
                "  {:<6} {}{details}",
                f.action,
                synchronizer::meta::escape(&f.path)
            );
        }
        for p in &d.packages {
            println!("  package {p}");
        }
        for s in &d.services {
            println!("  service {s}");
        }
        for x in &d.diffs {
            println!();
            print!("{}", x.text);
            if !x.text.ends_with('\n') {
                println!();
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// "1 path", "2 paths".
fn paths(n: usize) -> String {
    format!("{n} path{}", if n == 1 { "" } else { "s" })
}
