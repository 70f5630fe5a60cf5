//! Progress on a terminal: a spinner naming the current stage and a byte bar
//! for long transfers, on stderr. Nothing when stderr is not a terminal or
//! JSON was asked for, so logs and pipes stay clean.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

pub struct Bar {
    bar: Option<ProgressBar>,
}

impl Bar {
    pub fn new(json: bool) -> Bar {
        let bar = (!json && std::io::stderr().is_terminal()).then(|| {
            let b = ProgressBar::new_spinner();
            b.enable_steady_tick(Duration::from_millis(120));
            b
        });
        Bar { bar }
    }
}

impl cluster::progress::Progress for Bar {
    fn stage(&self, what: &str) {
        if let Some(b) = &self.bar {
            b.set_style(ProgressStyle::default_spinner());
            b.set_message(what.to_string());
        }
    }

    fn start(&self, what: &str, total: u64) {
        if let Some(b) = &self.bar {
            b.set_length(total);
            b.set_position(0);
            b.set_style(
                ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            b.set_message(what.to_string());
        }
    }

    fn advance(&self, n: u64) {
        if let Some(b) = &self.bar {
            b.inc(n);
        }
    }

    fn finish(&self) {}
}

impl Drop for Bar {
    fn drop(&mut self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
