//! The `notify:` section: mail (server, TLS, sender, recipients, the login
//! file, a private CA) and webhook settings, and when to send.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Checker, ser_duration};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNotify {
    pub email: Option<RawEmail>,
    pub webhook: Option<RawWebhook>,
    pub when: Option<Vec<RawWhen>>,
    pub remind_every: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEmail {
    pub server: String,
    pub port: Option<u16>,
    pub tls: Option<RawTls>,
    pub from: String,
    pub to: Vec<String>,
    pub credentials: Option<PathBuf>,
    pub ca_file: Option<PathBuf>,
    pub timeout: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RawTls {
    Starttls,
    Implicit,
    None,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWebhook {
    pub url: String,
    pub timeout: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RawWhen {
    Divergence,
    Failure,
    Recovery,
    Nightly,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct NotifySettings {
    pub email: Option<EmailSettings>,
    pub webhook: Option<WebhookSettings>,
    pub when: Vec<When>,
    /// While things stay bad, mail again every this many runs (0: never).
    pub remind_every: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum When {
    Divergence,
    Failure,
    Recovery,
    Nightly,
}

#[derive(Debug, Clone, Serialize)]
pub struct EmailSettings {
    pub server: String,
    pub port: u16,
    pub tls: Tls,
    pub from: String,
    pub to: Vec<String>,
    /// A file holding the user name on its first line and the password on
    /// its second (never inline in this file).
    pub credentials: Option<PathBuf>,
    /// A PEM file with the certificate authority that signed the server's
    /// certificate, for a relay with a private CA (trusted besides the
    /// system's own authorities).
    pub ca_file: Option<PathBuf>,
    #[serde(serialize_with = "ser_duration")]
    pub timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Tls {
    /// Plain connection upgraded with STARTTLS (required).
    Starttls,
    /// TLS from the first byte (port 465).
    Implicit,
    /// No encryption: only for a relay on the same host or network.
    None,
}

#[derive(Debug, Clone, Serialize)]
pub struct WebhookSettings {
    pub url: String,
    #[serde(serialize_with = "ser_duration")]
    pub timeout: Duration,
}

pub(super) fn validate(c: &mut Checker<'_>, raw: RawNotify) -> NotifySettings {
    let email = raw.email.map(|e| {
        if e.server.trim().is_empty() || e.server.contains("://") {
            c.problem(&["notify", "email", "server"], format!("`{}` is not a host name", e.server), Some("the mail server's name or address, e.g. mail.example.com (the port and TLS have their own keys)".into()));
        }
        for (key, addr) in std::iter::once(("from".to_string(), &e.from)).chain(e.to.iter().enumerate().map(|(i, a)| (i.to_string(), a))) {
            if !addr.contains('@') || addr.contains(char::is_whitespace) {
                let path: Vec<&str> = if key == "from" { vec!["notify", "email", "from"] } else { vec!["notify", "email", "to", &key] };
                c.problem(&path, format!("`{addr}` is not a mail address"), None);
            }
        }
        if e.to.is_empty() {
            c.problem(&["notify", "email", "to"], "nobody to tell", Some("list at least one address".into()));
        }
        if let Some(cred) = &e.credentials {
            match std::fs::metadata(cred) {
                Err(err) => c.problem(&["notify", "email", "credentials"], format!("cannot read {}: {err}", cred.display()), Some("a file with the user name on the first line and the password on the second".into())),
                Ok(m) if m.permissions().mode() & 0o077 != 0 => c.problem(
                    &["notify", "email", "credentials"],
                    format!("{} is open to other users", cred.display()),
                    Some(format!("it holds a password: chmod 600 {}", cred.display())),
                ),
                Ok(_) => {}
            }
        }
        let tls = match e.tls {
            None | Some(RawTls::Starttls) => Tls::Starttls,
            Some(RawTls::Implicit) => Tls::Implicit,
            Some(RawTls::None) => Tls::None,
        };
        if tls == Tls::None && e.credentials.is_some() {
            c.problem(
                &["notify", "email", "credentials"],
                "a password would cross the network in clear text (`tls: none`)",
                Some("use `tls: starttls` or `tls: implicit` with credentials, or drop them for a local relay".into()),
            );
        }
        if let Some(ca) = &e.ca_file {
            match std::fs::read_to_string(ca) {
                Err(err) => c.problem(&["notify", "email", "ca_file"], format!("cannot read {}: {err}", ca.display()), Some("a PEM file with the certificate authority that signed the mail server's certificate".into())),
                Ok(text) if !text.contains("-----BEGIN CERTIFICATE-----") => c.problem(
                    &["notify", "email", "ca_file"],
                    format!("{} holds no PEM certificate", ca.display()),
                    Some("a PEM file starting with -----BEGIN CERTIFICATE-----".into()),
                ),
                Ok(_) if tls == Tls::None => c.problem(
                    &["notify", "email", "ca_file"],
                    "a certificate authority means nothing without TLS (`tls: none`)",
                    Some("use `tls: starttls` or `tls: implicit`, or drop ca_file".into()),
                ),
                Ok(_) => {}
            }
        }
        let port = e.port.unwrap_or(match tls {
            Tls::Starttls => 587,
            Tls::Implicit => 465,
            Tls::None => 25,
        });
        c.range(&["notify", "email", "port"], e.port, 1, 65535, "ports");
        let timeout = c.duration(&["notify", "email", "timeout"], e.timeout.as_deref(), Duration::from_secs(30));
        c.at_most(&["notify", "email", "timeout"], timeout, Duration::from_secs(600));
        EmailSettings { server: e.server, port, tls, from: e.from, to: e.to, credentials: e.credentials, ca_file: e.ca_file, timeout }
    });
    let webhook = raw.webhook.map(|w| {
        if !(w.url.starts_with("http://") || w.url.starts_with("https://")) {
            c.problem(
                &["notify", "webhook", "url"],
                format!("`{}` is not an http:// or https:// URL", w.url),
                None,
            );
        }
        let timeout = c.duration(
            &["notify", "webhook", "timeout"],
            w.timeout.as_deref(),
            Duration::from_secs(10),
        );
        c.at_most(
            &["notify", "webhook", "timeout"],
            timeout,
            Duration::from_secs(600),
        );
        WebhookSettings {
            url: w.url,
            timeout,
        }
    });
    let when = raw
        .when
        .unwrap_or_else(|| {
            vec![
                RawWhen::Divergence,
                RawWhen::Failure,
                RawWhen::Recovery,
                RawWhen::Nightly,
            ]
        })
        .into_iter()
        .map(|w| match w {
            RawWhen::Divergence => When::Divergence,
            RawWhen::Failure => When::Failure,
            RawWhen::Recovery => When::Recovery,
            RawWhen::Nightly => When::Nightly,
        })
        .collect();
    c.range(
        &["notify", "remind_every"],
        raw.remind_every,
        0,
        10_000,
        "runs between reminders (0: never)",
    );
    NotifySettings {
        email,
        webhook,
        when,
        remind_every: raw.remind_every.unwrap_or(12),
    }
}
