//! A client of the service: from the lab's client host, an HTTP GET to an
//! address every 20 ms (0.3 s each at most, for 2 minutes at most), each try
//! logged with its time and status code. Tests and benchmarks read the
//! longest time without an answer from it: what a user would have seen.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::Lab;

/// Seconds since the epoch, as the probe's lines write them.
pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs_f64()
}

pub struct Probe {
    log: PathBuf,
    stop: PathBuf,
    thread: std::thread::JoinHandle<()>,
}

impl Probe {
    /// Starts probing `http://ADDRESS/` and waits for its first answer.
    pub fn start(lab: &Lab, address: &str) -> Probe {
        let log = lab.run_dir().join("probe.log");
        let stop = lab.run_dir().join("probe.stop");
        let _ = std::fs::remove_file(&log);
        let _ = std::fs::remove_file(&stop);
        let script = format!(
            "end=$(( $(date +%s) + 120 )); while [ $(date +%s) -lt $end ] && [ ! -e {stop} ]; do \
             t=$(date +%s.%N); c=$(curl -s -o /dev/null -m 0.3 -w '%{{http_code}}' http://{address}/); \
             echo \"$t $c\" >> {log}; sleep 0.02; done",
            stop = stop.display(),
            log = log.display()
        );
        let lab_script = crate::repo_root().join("tests/lab/lab");
        let thread = std::thread::spawn(move || {
            let _ = std::process::Command::new(lab_script)
                .args(["exec", "client", "--", "sh", "-c", &script])
                .output();
        });
        let probe = Probe { log, stop, thread };
        let until = Instant::now() + Duration::from_secs(10);
        while !probe.lines().contains(" 200") {
            assert!(
                Instant::now() < until,
                "the probe got no answer within 10 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        probe
    }

    /// Every line so far: `SECONDS CODE` (000: no answer).
    pub fn lines(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops once the service has answered after `since` (seconds since
    /// the epoch); returns every line.
    pub fn stop_after_an_answer_since(self, since: f64) -> String {
        let until = Instant::now() + Duration::from_secs(30);
        while !self.lines().lines().any(|l| {
            let mut p = l.split_whitespace();
            let t: f64 = p.next().and_then(|t| t.parse().ok()).unwrap_or(0.0);
            t > since && p.next() == Some("200")
        }) {
            assert!(
                Instant::now() < until,
                "the service did not answer again within 30 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        self.stop()
    }

    /// Stops once the service has failed after `since` (seconds since the
    /// epoch) and answered again; returns every line.
    pub fn stop_after_an_outage_since(self, since: f64) -> String {
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            let mut failed = false;
            let over = self.lines().lines().any(|l| {
                let mut p = l.split_whitespace();
                let t: f64 = p.next().and_then(|t| t.parse().ok()).unwrap_or(0.0);
                let ok = p.next() == Some("200");
                failed |= t > since && !ok;
                failed && ok
            });
            if over {
                break;
            }
            assert!(
                Instant::now() < until,
                "no outage and answer again within 20 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        self.stop()
    }

    /// Stops now; returns every line.
    pub fn stop(self) -> String {
        std::fs::write(&self.stop, "").expect("stop the probe");
        let lines = self.lines();
        self.thread.join().expect("the probe ends");
        // Read again: the last tries may have landed while it stopped.
        std::fs::read_to_string(&self.log).unwrap_or(lines)
    }
}

/// The longest time without a 200 in a probe's lines (a failure at the end
/// counts until the last try), and the failed tries.
pub fn outage(lines: &str) -> (f64, usize) {
    let mut longest: f64 = 0.0;
    let mut down_since: Option<f64> = None;
    let mut failed = 0;
    let mut last = 0.0;
    for line in lines.lines() {
        let mut parts = line.split_whitespace();
        let (Some(t), Some(code)) = (parts.next(), parts.next()) else {
            continue;
        };
        let t: f64 = t.parse().unwrap_or(0.0);
        last = t;
        if code == "200" {
            if let Some(s) = down_since.take() {
                longest = longest.max(t - s);
            }
        } else {
            failed += 1;
            down_since.get_or_insert(t);
        }
    }
    if let Some(s) = down_since {
        longest = longest.max(last - s);
    }
    (longest, failed)
}
