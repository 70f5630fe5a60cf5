//! `coldspare failover`, `coldspare playbook` and `coldspare journal`: the
//! guided failover as a person at a console (or over a plain ssh session)
//! sees it, step by step, and the playbooks and journals behind it.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use bootswap::journal::{self, Event};
use bootswap::playbook;
use bootswap::runner::{self, Show};

use super::{Global, exit, output};

/// Run a failover playbook, step by step, with a journal.
///
/// Each step says what to do, why, and exactly what coldspare will run.
/// Automatic steps run by themselves; a manual step waits for you: `y` when
/// it is done, `s` to skip it (you are asked why; the reason is journaled
/// and mailed), `a` to stop, `?` for help. Answers are read line by line from
/// standard input, so it works over a plain `ssh` session without a
/// terminal.
///
/// Every step is written (and fsynced) to a journal in the state directory
/// before and after it runs. If the runner is killed, the terminal is lost
/// or this machine reboots, `coldspare failover --resume` continues at the
/// first unfinished step; a step that was in flight runs again only if it is
/// safe to repeat, otherwise you are asked.
///
/// The preflight refuses an unsafe start (exit 1, nothing changed): a
/// primary that still answers, a secondary that is not whole, not synced
/// recently or not verified green. `--force --reason TEXT` goes on anyway and
/// journals and mails the reason.
///
/// Before the first step it also looks at what every step will need: the
/// key and known_hosts here, each node's host key, an agent that speaks what
/// its steps ask, the service address's interface on the node taking it, the
/// mail files. A gap is a refusal naming its fix; `--fix` installs this
/// version on a node whose agent is too old first.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Playbooks: cold-reboot (the primary is dead; the secondary takes over \
    on its own disk), disk-swap (move the primary's disk into the secondary's machine), \
    switchover (planned, both healthy), failback (the repaired node returns). \
    `coldspare playbook list` describes each; `coldspare playbook show NAME` prints its steps.\n\n\
    Exit codes: 0 finished, 1 refused by the preflight, stopped at a failing step (resume it) \
    or aborted, 2 could not run (bad playbook or configuration)."
)]
pub struct FailoverArgs {
    /// The playbook: a name (`cold-reboot`) or a file.
    #[arg(value_name = "PLAYBOOK", required_unless_present_any = ["resume", "abandon"])]
    playbook: Option<String>,
    /// Continue the unfinished failover at the step where it stopped.
    #[arg(long, conflicts_with = "dry_run")]
    resume: bool,
    /// Walk every step and show what it would do; change nothing (preflight
    /// conditions are still checked, read-only).
    #[arg(long, short = 'n')]
    dry_run: bool,
    /// Go on past failing preflight conditions and unskippable manual steps.
    #[arg(long, requires = "reason")]
    force: bool,
    /// Before the first step, fix what the preflight finds that coldspare
    /// can fix itself (a node's agent too old for a step: this version is
    /// installed on it, as `coldspare agent install NODE` does), and journal it.
    #[arg(long)]
    fix: bool,
    /// Why (journaled and mailed); needed with --force and --abandon.
    #[arg(long, value_name = "TEXT")]
    reason: Option<String>,
    /// Close the unfinished failover without running more steps.
    #[arg(long, requires = "reason", conflicts_with_all = ["resume", "dry_run", "force"])]
    abandon: bool,
}

/// List, validate or print the failover playbooks.
#[derive(Debug, clap::Subcommand)]
pub enum PlaybookCmd {
    /// The playbooks available: the shipped ones and those in failover.playbooks.
    List,
    /// Validate playbooks (all, or the named ones / files): exit 0 when good, 2 otherwise.
    Check {
        #[arg(value_name = "PLAYBOOK")]
        names: Vec<String>,
    },
    /// Print a playbook's steps as the runner will show them.
    Show {
        #[arg(value_name = "PLAYBOOK")]
        name: String,
    },
}

/// Print a playbook as a runbook for paper: this cluster's names, addresses
/// and commands filled in, a box to tick per step, what you should see and
/// what to do when you don't. Markdown on stdout, or --html FILE (print CSS:
/// A4 or Letter, no step split across pages, black and white). Each runbook
/// written is recorded: when the playbook changes afterwards, `verify` and
/// the nightly mail say the printed runbook is out of date.
#[derive(Debug, clap::Args)]
pub struct RunbookArgs {
    /// The playbook: a name (`coldspare playbook list`) or a file.
    #[arg(default_value = bootswap::drill::DEFAULT_PLAYBOOK)]
    playbook: String,
    /// Write HTML for printing to FILE instead of Markdown on stdout.
    #[arg(long, value_name = "FILE", conflicts_with = "markdown")]
    html: Option<PathBuf>,
    /// Markdown on stdout (the default).
    #[arg(long)]
    markdown: bool,
}

/// The service address at boot (run by coldspare-address.service).
#[derive(Debug, clap::Subcommand)]
pub enum AddressCmd {
    /// Take the service address if this machine is the recorded primary and
    /// no other machine answers for it (exit 1 when another one does).
    Hold,
}

/// Show a failover journal: its timeline, checked entry by entry.
#[derive(Debug, clap::Args)]
pub struct JournalArgs {
    /// The journal (default: the newest).
    id: Option<String>,
    /// List the journals instead.
    #[arg(long)]
    list: bool,
    /// Copy the journals NODE keeps (each run is mirrored to the nodes) to
    /// this machine, for one that lost its own; then `failover --resume`.
    #[arg(long, value_name = "NODE", conflicts_with = "list")]
    from: Option<String>,
}

struct Console {
    json: bool,
    input: Box<dyn BufRead>,
}

impl runner::Ui for Console {
    fn show(&mut self, what: &Show) {
        let mut out = std::io::stdout().lock();
        if self.json {
            let _ = writeln!(out, "{}", serde_json::to_string(what).unwrap_or_default());
            let _ = out.flush();
            return;
        }
        let text = match what {
            Show::Start {
                journal,
                playbook,
                digest,
                description,
                steps,
                dry_run,
                resumed_at,
                contacts,
            } => {
                let mut t = format!(
                    "{} `{playbook}`{}: {steps} steps, journal {journal}\n{description}\n",
                    output::bold(if *dry_run {
                        "DRY RUN of playbook"
                    } else {
                        "Playbook"
                    }),
                    resumed_at
                        .map(|n| format!(", resumed at step {n}"))
                        .unwrap_or_default()
                );
                t.push_str(&format!(
                    "Playbook digest: {digest} (the printed runbook shows the same)\n"
                ));
                if let Some(c) = contacts {
                    t.push_str(&format!("Contacts: {c}\n"));
                }
                t
            }
            Show::Step {
                n,
                of,
                phase,
                title,
                why,
                detail,
                you_do,
                elapsed_secs,
                ..
            } => {
                let mut t = format!(
                    "\n{} {}  [{phase}, {}:{:02}]\n",
                    output::bold(&format!("Step {n} of {of}:")),
                    output::bold(title),
                    elapsed_secs / 60,
                    elapsed_secs % 60
                );
                if let Some(w) = why {
                    t.push_str(&format!("  why:  {w}\n"));
                }
                if detail != title {
                    t.push_str(&format!("  does: {detail}\n"));
                }
                if let Some(you) = you_do {
                    t.push_str(&format!("  {} {you}\n", output::bold("YOU DO NOW:")));
                }
                t
            }
            Show::Progress { text, .. } => format!("  ... {text}\n"),
            Show::Ask { question, .. } => format!("  {question}\n> "),
            Show::Done { detail, millis, .. } => format!(
                "  {} ({:.1} s): {}\n",
                output::green("done"),
                *millis as f64 / 1000.0,
                indent(detail)
            ),
            Show::Skipped { reason, .. } => {
                format!("  {}: {reason}\n", output::yellow("SKIPPED"))
            }
            Show::Forced { detail, reason, .. } => format!(
                "  {}: {}\n  going on because of --force: {reason}\n",
                output::red("FAILED"),
                indent(detail)
            ),
            Show::Fixed { node, detail } => {
                format!("{} {node}: {detail}\n", output::green("fixed (--fix):"))
            }
            Show::Failed { detail, help, .. } => format!(
                "  {}: {}\n  next: {help}\n",
                output::red("FAILED"),
                indent(detail)
            ),
            Show::Finish {
                ok,
                summary,
                afterwards,
                ..
            } => {
                let mut t = format!(
                    "\n{}: {summary}\n",
                    if *ok {
                        output::green("FINISHED")
                    } else {
                        output::red("NOT FINISHED")
                    }
                );
                if !afterwards.is_empty() {
                    t.push_str(&format!(
                        "\n{}\n",
                        output::bold("Afterwards (as on the printed runbook):")
                    ));
                    for a in afterwards {
                        t.push_str(&format!("  - {a}\n"));
                    }
                }
                t
            }
        };
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }

    fn read_line(&mut self) -> Option<String> {
        let mut line = String::new();
        match self.input.read_line(&mut line) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(line),
        }
    }
}

fn indent(text: &str) -> String {
    text.replace('\n', "\n        ")
}

pub fn failover(global: &Global, args: FailoverArgs) -> anyhow::Result<ExitCode> {
    let config = global.load()?;
    if args.abandon {
        return abandon(global, &config, args.reason.unwrap_or_default());
    }
    let opts = runner::Options {
        playbook: args.playbook,
        resume: args.resume,
        dry_run: args.dry_run,
        force_reason: if args.force { args.reason } else { None },
        fix: args
            .fix
            .then_some(super::agent::install_for_fix as bootswap::needs::InstallAgent),
    };
    let mut console = Console {
        json: global.json,
        input: Box::new(std::io::BufReader::new(std::io::stdin())),
    };
    let out = runner::run(&config, &opts, &mut console)?;
    if !global.json && out.resumable {
        eprintln!(
            "coldspare: the failover stopped; `{} failover --resume` continues it",
            global.cmd()
        );
    }
    Ok(if out.ok {
        ExitCode::SUCCESS
    } else {
        exit::from(exit::PROBLEM)
    })
}

fn abandon(global: &Global, config: &cluster::Config, reason: String) -> anyhow::Result<ExitCode> {
    let Some(open) = journal::unfinished(&config.state_dir)? else {
        return Err(bootswap::Error::NothingToResume.into());
    };
    let mut j = bootswap::Journal::open(&config.state_dir, &open.id)?;
    let at = runner::first_unfinished(&j.entries);
    j.append(Event::Aborted {
        step: at,
        reason: format!("abandoned: {reason}"),
    })?;
    if global.json {
        output::json(&serde_json::json!({"abandoned": open.id, "at_step": at + 1}))?;
    } else {
        println!(
            "closed the unfinished `{}` run (journal {}) at step {}; nothing more will run from it",
            open.playbook,
            open.id,
            at + 1
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn playbook(global: &Global, cmd: PlaybookCmd) -> anyhow::Result<ExitCode> {
    let config = global.load()?;
    match cmd {
        PlaybookCmd::List => {
            let list = playbook::list(&config);
            if global.json {
                output::json(&list)?;
            } else {
                for p in list {
                    let from = match (&p.file, p.shipped) {
                        (Some(f), true) => format!("{} (overrides the shipped one)", f.display()),
                        (Some(f), false) => f.display().to_string(),
                        (None, _) => "shipped".to_string(),
                    };
                    println!("{:<12} {}\n{:<12} from: {from}", p.name, p.description, "");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        PlaybookCmd::Check { names } => {
            let names = if names.is_empty() {
                playbook::list(&config)
                    .into_iter()
                    .map(|p| p.name)
                    .collect()
            } else {
                names
            };
            let mut bad = 0;
            let mut results = Vec::new();
            for name in &names {
                match playbook::load(&config, name) {
                    Ok(p) => {
                        if !global.json {
                            println!(
                                "{}: {} — {} steps",
                                p.source.display(),
                                output::green("valid"),
                                p.steps.len()
                            );
                        }
                        results.push(
                            serde_json::json!({"playbook": name, "valid": true, "file": p.source}),
                        );
                    }
                    Err(e) => {
                        bad += 1;
                        let problems = match &e {
                            playbook::PlaybookError::Invalid { problems } => problems.clone(),
                            _ => Vec::new(),
                        };
                        if !global.json {
                            if problems.is_empty() {
                                eprintln!("error: {e}");
                            }
                            for p in &problems {
                                eprintln!("error: {p}");
                            }
                        }
                        results.push(serde_json::json!({"playbook": name, "valid": false, "error": e.to_string(), "problems": problems}));
                    }
                }
            }
            if global.json {
                output::json(&results)?;
            } else if bad > 0 {
                eprintln!("coldspare: {bad} of {} playbooks refused", names.len());
            }
            Ok(if bad == 0 {
                ExitCode::SUCCESS
            } else {
                exit::from(exit::CANNOT_RUN)
            })
        }
        PlaybookCmd::Show { name } => {
            let p = playbook::load(&config, &name)?;
            if global.json {
                output::json(&p)?;
                return Ok(ExitCode::SUCCESS);
            }
            let vars = runner::variables(&config);
            println!(
                "{} — {}\n{}\nPlaybook digest: {} (as the printed runbook shows it)\n",
                output::bold(&p.name),
                p.source.display(),
                p.description,
                bootswap::runbook::digest(&p.sha256)
            );
            for (i, s) in p.steps.iter().enumerate() {
                println!(
                    "{:>2}. [{}] {} ({}{})",
                    i + 1,
                    s.phase,
                    playbook::expand(&s.title, &vars),
                    s.action.kind(),
                    if s.action.idempotent() || s.action.kind() == "manual" {
                        ""
                    } else {
                        ", not safe to repeat"
                    }
                );
                if let Some(w) = &s.why {
                    println!("      why: {}", playbook::expand(w, &vars));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub fn journal(global: &Global, args: JournalArgs) -> anyhow::Result<ExitCode> {
    let config = global.load()?;
    if let Some(name) = &args.from {
        let spec = config.node(name)?.clone();
        let mut node = cluster::connect(&config, &spec)?;
        let got = journal::fetch(&config.state_dir, &mut node)?;
        if global.json {
            output::json(&got)?;
        } else {
            for id in &got.copied {
                println!("copied {id} from {name} (verified)");
            }
            for id in &got.same {
                println!("{id}: already here, the same");
            }
            for why in &got.refused {
                eprintln!("coldspare: not copied: {why}");
            }
            if let Some(open) = journal::unfinished(&config.state_dir)? {
                println!(
                    "unfinished: `{}` (journal {}); `{} failover --resume` continues it",
                    open.playbook,
                    open.id,
                    global.cmd()
                );
            }
        }
        return Ok(if got.refused.is_empty() {
            ExitCode::SUCCESS
        } else {
            exit::from(exit::PROBLEM)
        });
    }
    if args.list {
        let list = journal::list(&config.state_dir)?;
        if global.json {
            output::json(&list)?;
        } else if list.is_empty() {
            println!(
                "no journals in {}",
                journal::dir(&config.state_dir).display()
            );
        } else {
            for s in list {
                let state = match (s.drill, s.finished) {
                    (true, Some(_)) => {
                        "drill, ended (`coldspare drill` shows results in status and verify)"
                    }
                    (true, None) => {
                        "drill, INTERRUPTED (the next `coldspare drill` puts the secondary back)"
                    }
                    (false, Some(true)) => "finished",
                    (false, Some(false)) => "ended unfinished",
                    (false, None) => "UNFINISHED (failover --resume)",
                };
                println!("{:<40} {:<12} {state}", s.id, s.playbook);
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let (id, entries) = journal::load(&config.state_dir, args.id.as_deref())?;
    if global.json {
        output::json(&serde_json::json!({"id": id, "verified": true, "entries": entries}))?;
    } else {
        let path: PathBuf = journal::dir(&config.state_dir).join(format!("{id}.jsonl"));
        println!(
            "journal {id} ({}; {} entries, hash chain verified)\n",
            path.display(),
            entries.len()
        );
        print!("{}", runner::timeline(&entries));
    }
    Ok(ExitCode::SUCCESS)
}

pub fn address(global: &Global, cmd: AddressCmd) -> anyhow::Result<ExitCode> {
    let config = global.load()?;
    match cmd {
        AddressCmd::Hold => {
            let held = bootswap::address::hold(&config)?;
            if global.json {
                output::json(&held)?;
            } else if held.conflict {
                eprintln!("coldspare: {}", held.said);
            } else {
                println!("{}", held.said);
            }
            Ok(if held.conflict {
                exit::from(exit::PROBLEM)
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}

pub fn runbook(global: &Global, args: RunbookArgs) -> anyhow::Result<ExitCode> {
    let config = global.load()?;
    let p = playbook::load(&config, &args.playbook)?;
    let book = bootswap::runbook::build(&config, &p);
    // The runbook is written whatever happens to its record; a record that
    // cannot be kept is said, since the out-of-date notice then cannot come.
    // A playbook named by its file is recorded by its absolute path, so
    // `verify` finds it from any directory; one named by name stays a name
    // (an override added or removed later is what verify compares with).
    let a = &args.playbook;
    let loaded_as = if a.contains('/') || a.ends_with(".yaml") || a.ends_with(".yml") {
        std::path::absolute(a)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|_| a.clone())
    } else {
        a.clone()
    };
    let record = |format, file: Option<&std::path::Path>| {
        if let Err(e) = bootswap::runbook::record(&config, &book, &loaded_as, format, file) {
            eprintln!(
                "warning: cannot record the printed runbook in {}: {e}; `verify` cannot tell when it is out of date",
                bootswap::runbook::records_path(&config.state_dir).display()
            );
        }
    };
    if let Some(file) = &args.html {
        cluster::fsutil::write_atomic(file, book.html().as_bytes(), 0o644)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", file.display()))?;
        record(bootswap::runbook::Format::Html, Some(file));
        if global.json {
            output::json(&serde_json::json!({"html": file, "runbook": book}))?;
        } else {
            println!(
                "runbook of `{}` ({} steps) written to {}",
                book.playbook,
                book.steps.len(),
                file.display()
            );
        }
    } else if global.json && !args.markdown {
        output::json(&book)?;
    } else {
        print!("{}", book.markdown());
        record(bootswap::runbook::Format::Markdown, None);
    }
    Ok(ExitCode::SUCCESS)
}
