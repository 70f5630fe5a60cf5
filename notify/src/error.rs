//! Why a message was not delivered, in words that say what to fix.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not a PEM certificate: {detail}", path.display())]
    Certificate { path: PathBuf, detail: String },
    #[error("{} must hold the user name on its first line and the password on its second", path.display())]
    Credentials { path: PathBuf },
    #[error("bad address {address}: {detail}")]
    Address { address: String, detail: String },
    #[error("cannot build the message: {0}")]
    Build(String),
    #[error("TLS set-up: {0}")]
    Tls(String),
    #[error("{server}:{port}: no answer within {timeout} ({detail})")]
    Timeout {
        server: String,
        port: u16,
        timeout: String,
        detail: String,
    },
    #[error(
        "{server}:{port}: {detail} — if a private CA signed the server's certificate, \
         name it in notify.email.ca_file"
    )]
    UntrustedCertificate {
        server: String,
        port: u16,
        detail: String,
    },
    #[error(
        "{server}:{port}: the server's certificate is not for the name `{server}` ({detail}) — \
         set notify.email.server to a name its certificate carries"
    )]
    WrongName {
        server: String,
        port: u16,
        detail: String,
    },
    #[error("{server}:{port}: {detail}")]
    Smtp {
        server: String,
        port: u16,
        detail: String,
    },
    /// Names only scheme, host and port: a webhook's path often holds its token.
    #[error("the webhook URL is not valid: {0}")]
    WebhookUrl(String),
    #[error("{origin}: {detail}")]
    Webhook { origin: String, detail: String },
    #[error("{origin} answered HTTP {status}")]
    WebhookStatus { origin: String, status: String },
    #[error("no longer configured")]
    NotConfigured,
    #[error("not tried: the server failed for an earlier message ({0})")]
    Earlier(String),
}

/// An error with every cause behind it: "Connection error: … : certificate
/// verify failed" tells the admin what to fix, the first line alone does not.
pub fn with_causes(x: &dyn std::error::Error) -> String {
    let mut text = x.to_string();
    let mut src = x.source();
    while let Some(s) = src {
        let more = s.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        src = s.source();
    }
    text
}

/// Whether a read or a connect gave up waiting (a socket timeout shows up
/// as EAGAIN, "Resource temporarily unavailable", which says nothing).
pub(crate) fn timed_out(x: &(dyn std::error::Error + 'static)) -> bool {
    let mut src = Some(x);
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            )
        {
            return true;
        }
        src = s.source();
    }
    false
}
