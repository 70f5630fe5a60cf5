//! A fluent harness for running the coldspare binary in a scratch directory:
//! `Test::new().config(..).args(..).run().code(2).stderr(..)`. Text given to
//! `config`, `file`, `stdout` and `stderr` may say `{dir}` for the scratch
//! directory.

#![allow(clippy::disallowed_methods)] // tests run the binary under test directly

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::coldspare_bin;

#[must_use]
pub struct Test {
    dir: tempfile::TempDir,
    args: Vec<String>,
}

impl Test {
    pub fn new() -> Test {
        Test {
            dir: tempfile::tempdir().expect("a scratch directory"),
            args: Vec::new(),
        }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn expand(&self, text: &str) -> String {
        text.replace("{dir}", &self.dir.path().to_string_lossy())
    }

    /// Writes `coldspare.yaml` and points `--config` at it.
    pub fn config(self, text: &str) -> Test {
        let path = self.dir.path().join("coldspare.yaml");
        std::fs::write(&path, self.expand(text)).expect("write config");
        self.args(&["--config", &path.to_string_lossy()])
    }

    /// Writes a file in the scratch directory with `mode`.
    pub fn file(self, name: &str, content: &str, mode: u32) -> Test {
        let path = self.dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, self.expand(content)).expect("write file");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        self
    }

    /// A private key file `key` (mode 0600).
    pub fn key(self) -> Test {
        self.file(
            "key",
            "-----BEGIN OPENSSH PRIVATE KEY-----\n(test)\n",
            0o600,
        )
    }

    pub fn args(mut self, args: &[&str]) -> Test {
        let expanded: Vec<String> = args.iter().map(|a| self.expand(a)).collect();
        self.args.extend(expanded);
        self
    }

    pub fn run(self) -> Ran {
        let out = Command::new(coldspare_bin())
            .args(&self.args)
            .env_remove("COLDSPARE_CONFIG")
            .env("NO_COLOR", "1")
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run coldspare");
        Ran {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            test: self,
        }
    }
}

pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    test: Test,
}

impl Ran {
    #[track_caller]
    pub fn code(self, want: i32) -> Ran {
        assert_eq!(
            self.code, want,
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub fn stdout(self, want: &str) -> Ran {
        assert_eq!(self.stdout, self.test.expand(want), "stdout");
        self
    }

    #[track_caller]
    pub fn stderr(self, want: &str) -> Ran {
        assert_eq!(self.stderr, self.test.expand(want), "stderr");
        self
    }

    #[track_caller]
    pub fn stdout_has(self, part: &str) -> Ran {
        let part = self.test.expand(part);
        assert!(
            self.stdout.contains(&part),
            "stdout lacks {part:?}:\n{}",
            self.stdout
        );
        self
    }

    #[track_caller]
    pub fn stderr_has(self, part: &str) -> Ran {
        let part = self.test.expand(part);
        assert!(
            self.stderr.contains(&part),
            "stderr lacks {part:?}:\n{}",
            self.stderr
        );
        self
    }

    pub fn dir(&self) -> PathBuf {
        self.test.dir().to_path_buf()
    }
}
