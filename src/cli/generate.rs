//! `coldspare generate man|completions DIR` (hidden, for packagers): the man
//! pages and shell completions, generated from the very clap definitions
//! that `--help` prints, so the three can never disagree. Nothing here is
//! written by hand.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::CommandFactory;
use clap_complete::Shell;

#[derive(Debug, clap::Subcommand)]
pub enum Cmd {
    /// coldspare.1 and a page per subcommand (coldspare-sync.1, ...) into DIR.
    Man {
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
    /// Completions for bash (`coldspare`), zsh (`_coldspare`) and fish
    /// (`coldspare.fish`) into DIR, named as each shell's system directory expects.
    Completions {
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
}

/// Each shell and the file name its system directory expects
/// (/usr/share/bash-completion/completions/, /usr/share/zsh/vendor-completions/,
/// /usr/share/fish/vendor_completions.d/).
const SHELLS: [(Shell, &str); 3] = [
    (Shell::Bash, "coldspare"),
    (Shell::Zsh, "_coldspare"),
    (Shell::Fish, "coldspare.fish"),
];

pub fn run(cmd: Cmd) -> anyhow::Result<ExitCode> {
    let (dir, written) = match cmd {
        Cmd::Man { dir } => {
            create(&dir)?;
            clap_mangen::generate_to(super::Cli::command(), &dir)
                .with_context(|| format!("cannot write the man pages to {}", dir.display()))?;
            let n = std::fs::read_dir(&dir)?
                .filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().ends_with(".1"))
                .count();
            (dir, format!("{n} man pages"))
        }
        Cmd::Completions { dir } => {
            create(&dir)?;
            let mut cli = super::Cli::command();
            for (shell, name) in SHELLS {
                let path = dir.join(name);
                let mut file = std::fs::File::create(&path)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                clap_complete::generate(shell, &mut cli, "coldspare", &mut file);
            }
            (dir, "completions for bash, zsh and fish".to_string())
        }
    };
    println!("wrote {written} to {}", dir.display());
    Ok(ExitCode::SUCCESS)
}

fn create(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))
}
