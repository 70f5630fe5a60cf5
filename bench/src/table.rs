//! Timing and the printed table: each row is a median of runs, shown with its
//! ratio to the first row (the baseline).

use std::time::{Duration, Instant};

/// Runs `f` `runs` times (after `setup` each time) and returns the median.
pub fn median(runs: usize, mut setup: impl FnMut(), mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..runs.max(1))
        .map(|_| {
            setup();
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

pub struct Table {
    title: String,
    rows: Vec<(String, Duration, String)>,
}

impl Table {
    pub fn new(title: impl Into<String>) -> Table {
        Table {
            title: title.into(),
            rows: Vec::new(),
        }
    }

    /// A row; the first one is the baseline the ratios refer to.
    pub fn row(&mut self, name: impl Into<String>, time: Duration, note: impl Into<String>) {
        self.rows.push((name.into(), time, note.into()));
    }

    pub fn print(&self) {
        println!("\n{}", self.title);
        let base = self.rows.first().map(|r| r.1.as_secs_f64()).unwrap_or(1.0);
        println!("  {:<58} {:>10} {:>8}", "", "time", "ratio");
        for (name, t, note) in &self.rows {
            println!(
                "  {:<58} {:>10} {:>8.3}  {}",
                name,
                fmt(*t),
                t.as_secs_f64() / base,
                note
            );
        }
    }
}

pub fn fmt(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms >= 1000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else {
        format!("{ms:.1} ms")
    }
}
