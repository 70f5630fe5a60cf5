//! Host facts the agent reports in `hello`: what the node is (OS, kernel,
//! hardware, package and service manager). Read from /etc and /proc only;
//! cheap enough to gather on every connection.

use std::fs;
use std::path::Path;

use super::protocol::Facts;

pub fn gather() -> Facts {
    let os_release = fs::read_to_string("/etc/os-release").unwrap_or_default();
    let field = |key: &str| {
        os_release
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .map(|v| v.trim_matches('"').to_string())
            .unwrap_or_default()
    };
    let uname = nix::sys::utsname::uname().ok();
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let meminfo = fs::read_to_string("/proc/meminfo").unwrap_or_default();
    Facts {
        hostname: host_name().unwrap_or_default(),
        os: field("PRETTY_NAME"),
        os_id: field("ID"),
        os_version: field("VERSION_ID"),
        kernel: uname
            .as_ref()
            .map(|u| u.release().to_string_lossy().into_owned())
            .unwrap_or_default(),
        arch: uname
            .as_ref()
            .map(|u| u.machine().to_string_lossy().into_owned())
            .unwrap_or_default(),
        machine_id: read_trim("/etc/machine-id"),
        boot_id: read_trim("/proc/sys/kernel/random/boot_id"),
        cpus: std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1),
        cpu_model: cpuinfo
            .lines()
            .find_map(|l| {
                l.strip_prefix("model name")?
                    .split_once(':')
                    .map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_default(),
        memory_kib: meminfo
            .lines()
            .find_map(|l| {
                l.strip_prefix("MemTotal:")?
                    .split_whitespace()
                    .next()?
                    .parse()
                    .ok()
            })
            .unwrap_or(0),
        uptime_secs: read_trim("/proc/uptime")
            .split('.')
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0),
        package_manager: package_manager().into(),
        service_manager: service_manager().into(),
    }
}

fn read_trim(path: &str) -> String {
    fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

pub fn package_manager() -> &'static str {
    if Path::new("/var/lib/dpkg/status").exists() {
        "dpkg"
    } else if Path::new("/var/lib/rpm").exists() || Path::new("/usr/lib/sysimage/rpm").exists() {
        "rpm"
    } else {
        "none"
    }
}

pub fn service_manager() -> &'static str {
    if Path::new("/run/systemd/system").is_dir() {
        "systemd"
    } else if Path::new("/etc/init.d").is_dir() {
        "sysv"
    } else {
        "none"
    }
}

/// This machine's host name, if it has one that is text.
pub fn host_name() -> Option<String> {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
}
