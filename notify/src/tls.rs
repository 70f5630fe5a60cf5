//! Why TLS refused a server's certificate, in the admin's words. rustls
//! (behind lettre and reqwest) says it at one level of an error's chain
//! ("invalid peer certificate: UnknownIssuer"); mail and the Verifier's
//! HTTPS checks both turn that into what to fix.

/// A certificate TLS refused, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Trusted, but for other names: `valid_for` as the certificate lists
    /// them ("old.example.com", "a or b", or empty for none).
    WrongName { valid_for: String },
    /// No authority this machine trusts signed it (self-signed, or a
    /// private CA not named in `ca_file`).
    Untrusted,
    /// Out of its validity dates.
    Expired,
    /// Any other reason, as TLS gave it.
    Other(String),
}

const MARK: &str = "invalid peer certificate: ";

/// The refusal in `chain` (an error and its causes as text), or None
/// when the error is not about the certificate.
pub fn refusal(chain: &str) -> Option<Refusal> {
    let (_, reason) = chain.split_once(MARK)?;
    // The reason ends where the next cause of the chain would begin.
    let reason = reason.split(": ").next().unwrap_or(reason).trim();
    Some(
        if let Some(names) = reason.strip_prefix("certificate not valid for name ") {
            let valid_for = names
                .split_once("is only valid for ")
                // rustls lists them as `DnsName("old.example.com")`.
                .map(|(_, v)| v.trim().replace("DnsName(\"", "").replace("\")", ""))
                .unwrap_or_default();
            Refusal::WrongName { valid_for }
        } else if reason == "NotValidForName" {
            Refusal::WrongName {
                valid_for: String::new(),
            }
        } else if reason == "UnknownIssuer" {
            Refusal::Untrusted
        } else if reason.starts_with("certificate expired") || reason == "Expired" {
            Refusal::Expired
        } else {
            Refusal::Other(reason.to_string())
        },
    )
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::WrongName { valid_for } if valid_for.is_empty() => {
                f.write_str("it is not valid for this name")
            }
            Refusal::WrongName { valid_for } => write!(f, "it is only valid for {valid_for}"),
            Refusal::Untrusted => f.write_str("no authority this machine trusts signed it"),
            Refusal::Expired => f.write_str("it has expired"),
            Refusal::Other(reason) => f.write_str(reason),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rustls_reasons_are_read_from_anywhere_in_the_chain() {
        let chain = "error sending request for url (https://www.example.com/): client error \
                     (Connect): invalid peer certificate: certificate not valid for name \
                     \"www.example.com\"; certificate is only valid for DnsName(\"old.example.com\")";
        assert_eq!(
            refusal(chain),
            Some(Refusal::WrongName {
                valid_for: "old.example.com".into()
            })
        );
        assert_eq!(
            refusal(
                "invalid peer certificate: certificate not valid for name \"a\"; certificate \
                 is only valid for DnsName(\"b\") or DnsName(\"c\")"
            ),
            Some(Refusal::WrongName {
                valid_for: "b or c".into()
            })
        );
        assert_eq!(
            refusal("Connection error: invalid peer certificate: UnknownIssuer"),
            Some(Refusal::Untrusted)
        );
        assert_eq!(
            refusal(
                "invalid peer certificate: certificate expired: verification time 2 (UNIX), \
                 but certificate is not valid after 1 (1 seconds ago)"
            ),
            Some(Refusal::Expired)
        );
        assert_eq!(
            refusal("invalid peer certificate: BadSignature"),
            Some(Refusal::Other("BadSignature".into()))
        );
        assert_eq!(refusal("Connection refused (os error 111)"), None);
    }
}
