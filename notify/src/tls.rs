//! Why TLS refused a server's certificate, in the admin's words. rustls
//! (behind lettre and reqwest) puts its `rustls::Error` somewhere in an
//! error's chain, often inside an `std::io::Error`; mail and the
//! Verifier's HTTPS checks both turn it into what to fix.

use rustls::{CertificateError, Error as TlsError};

/// A certificate TLS refused, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Trusted, but for other names: `valid_for` as the certificate lists
    /// them in subjectAltName ("old.example.com", "a, b"), empty when it
    /// lists none (a name only in its CN, which TLS no longer accepts).
    WrongName { valid_for: String },
    /// No authority this machine trusts signed it (self-signed, or a
    /// private CA not named in `ca_file`).
    Untrusted,
    /// Past its end date.
    Expired,
    /// Before its start date.
    NotYetValid,
    /// The server presents a CA certificate (CA:TRUE) as its own, as a
    /// quickly made self-signed one often is.
    CaAsServer,
    /// Its extended key usage does not allow a server.
    NotForServers,
    /// Signed with an algorithm TLS no longer accepts (SHA-1, ...).
    WeakSignature,
    /// An X.509 version 1 certificate (no extensions at all).
    Version1,
    /// Any other reason, as TLS gave it.
    Other(String),
}

/// Set once this machine was found to have no certificate authorities.
static NO_ROOTS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether this machine has no certificate authorities (no ca-certificates
/// package): what a refused `https://` certificate then says, and only then.
pub fn no_system_roots() -> bool {
    NO_ROOTS.load(std::sync::atomic::Ordering::Relaxed)
}

/// Builds the HTTP client `make` describes (it is called again for a
/// second try). On a machine with no certificate authorities (no
/// ca-certificates package) rustls's platform verifier cannot be built at
/// all, which would fail even `http://` URLs: the client then trusts only
/// the certificates `make` adds (a `ca_file`), so `http://` works and an
/// unknown `https://` certificate is refused as untrusted, saying why and
/// naming the package. Nothing is said while no `https://` is asked for.
pub fn http_client(
    make: impl Fn() -> reqwest::blocking::ClientBuilder,
) -> Result<reqwest::blocking::Client, reqwest::Error> {
    let first = match make().build() {
        Ok(client) => return Ok(client),
        Err(e) => e,
    };
    match make().tls_certs_only([]).build() {
        Ok(client) => {
            NO_ROOTS.store(true, std::sync::atomic::Ordering::Relaxed);
            tracing::debug!(
                "this machine has no certificate authorities ({}): HTTPS trusts only a \
                 configured ca_file",
                crate::error::with_causes(&first)
            );
            Ok(client)
        }
        Err(_) => Err(first),
    }
}

/// The refusal somewhere in `error`'s chain, or None when the error is
/// not about the server's certificate.
pub fn refusal(error: &(dyn std::error::Error + 'static)) -> Option<Refusal> {
    let mut at = Some(error);
    while let Some(e) = at {
        if let Some(t) = e.downcast_ref::<TlsError>() {
            return of(t);
        }
        // An io::Error's source() skips the error it carries: look inside.
        at = match e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    None
}

fn of(e: &TlsError) -> Option<Refusal> {
    let TlsError::InvalidCertificate(c) = e else {
        return None;
    };
    #[allow(deprecated)]
    Some(match c {
        CertificateError::NotValidForNameContext { presented, .. } => Refusal::WrongName {
            valid_for: names(presented),
        },
        CertificateError::NotValidForName => Refusal::WrongName {
            valid_for: String::new(),
        },
        CertificateError::UnknownIssuer => Refusal::Untrusted,
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => Refusal::Expired,
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            Refusal::NotYetValid
        }
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            Refusal::NotForServers
        }
        CertificateError::UnsupportedSignatureAlgorithm
        | CertificateError::UnsupportedSignatureAlgorithmContext { .. }
        | CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
            Refusal::WeakSignature
        }
        CertificateError::Other(other) => {
            // webpki's own reasons, by their names (rustls passes them on
            // as they are; the platform verifier wraps a wrong purpose).
            let said = other.to_string();
            if said.contains("CaUsedAsEndEntity") {
                Refusal::CaAsServer
            } else if said.contains("UnsupportedCertVersion") {
                Refusal::Version1
            } else if said.contains("invalid extensions") || said.contains("Eku") {
                Refusal::NotForServers
            } else {
                Refusal::Other(said)
            }
        }
        other => Refusal::Other(other.to_string()),
    })
}

/// The host names and addresses of a certificate, as webpki lists them
/// (`DnsName("www.example.com")`, `IpAddress(192.0.2.1)`).
fn names(presented: &[String]) -> String {
    presented
        .iter()
        .filter_map(|n| {
            n.strip_prefix("DnsName(\"")
                .and_then(|n| n.strip_suffix("\")"))
                .or_else(|| {
                    n.strip_prefix("IpAddress(")
                        .and_then(|n| n.strip_suffix(')'))
                })
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::WrongName { valid_for } if valid_for.is_empty() => f.write_str(
                "it names no host in subjectAltName (a name only in its CN is not accepted): \
                 reissue it with subjectAltName",
            ),
            Refusal::WrongName { valid_for } => write!(f, "it is only valid for {valid_for}"),
            Refusal::Untrusted => f.write_str("no authority this machine trusts signed it"),
            Refusal::Expired => f.write_str("it has expired"),
            Refusal::NotYetValid => {
                f.write_str("it is not valid yet (is this machine's clock right?)")
            }
            Refusal::CaAsServer => f.write_str(
                "the server presents a CA certificate (CA:TRUE) as its own: give the server a \
                 certificate signed by that CA, and trust the CA",
            ),
            Refusal::NotForServers => {
                f.write_str("it is not made for servers (its extended key usage lacks serverAuth)")
            }
            Refusal::WeakSignature => f.write_str(
                "it is signed with an algorithm TLS no longer accepts (e.g. SHA-1): reissue it",
            ),
            Refusal::Version1 => f.write_str(
                "it is an X.509 version 1 certificate, which TLS no longer accepts: reissue it as \
                 version 3 with subjectAltName",
            ),
            Refusal::Other(reason) => f.write_str(reason),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rustls::pki_types::ServerName;

    use super::*;

    /// An error that carries `source`, as reqwest's and hyper's do.
    #[derive(Debug)]
    struct Outer(std::io::Error);

    impl std::fmt::Display for Outer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("error sending request")
        }
    }

    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    fn wrapped(c: CertificateError) -> Outer {
        Outer(std::io::Error::other(TlsError::InvalidCertificate(c)))
    }

    #[test]
    fn the_reason_is_found_inside_an_io_error_anywhere_in_the_chain() {
        let e = wrapped(CertificateError::NotValidForNameContext {
            expected: ServerName::try_from("www.example.com").unwrap(),
            presented: vec![
                "DnsName(\"old.example.com\")".into(),
                "IpAddress(192.0.2.1)".into(),
                "DirectoryName".into(),
            ],
        });
        assert_eq!(
            refusal(&e),
            Some(Refusal::WrongName {
                valid_for: "old.example.com, 192.0.2.1".into()
            })
        );
        assert_eq!(
            refusal(&wrapped(CertificateError::UnknownIssuer)),
            Some(Refusal::Untrusted)
        );
        assert_eq!(
            refusal(&std::io::Error::other("Connection refused")),
            None,
            "not about a certificate"
        );
    }

    #[test]
    fn every_common_reason_is_worded_for_the_admin() {
        let cn_only = wrapped(CertificateError::NotValidForNameContext {
            expected: ServerName::try_from("www.example.com").unwrap(),
            presented: vec![],
        });
        assert!(
            refusal(&cn_only)
                .unwrap()
                .to_string()
                .contains("a name only in its CN is not accepted")
        );
        #[derive(Debug)]
        struct Webpki;
        impl std::fmt::Display for Webpki {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("CaUsedAsEndEntity")
            }
        }
        impl std::error::Error for Webpki {}
        let ca = wrapped(CertificateError::Other(rustls::OtherError(Arc::new(
            Webpki,
        ))));
        assert_eq!(refusal(&ca), Some(Refusal::CaAsServer));
        assert!(
            !Refusal::CaAsServer.to_string().contains("Other("),
            "no Debug text reaches the admin"
        );
        #[allow(deprecated)]
        let weak = wrapped(CertificateError::UnsupportedSignatureAlgorithm);
        assert_eq!(refusal(&weak), Some(Refusal::WeakSignature));
        assert_eq!(
            refusal(&wrapped(CertificateError::Expired)),
            Some(Refusal::Expired)
        );
    }
}
