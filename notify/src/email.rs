//! Mail through lettre: STARTTLS (the default), implicit TLS, or plain to a
//! local relay; the server's certificate checked against the system's
//! authorities and an optional private CA; the login read from a file.

use cluster::config::{EmailSettings, Tls};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls as SmtpTls, TlsParameters};
use lettre::{SmtpTransport, Transport};

use crate::Message;
use crate::error::{Error, timed_out, with_causes};
use crate::tls::Refusal;

fn tls_parameters(e: &EmailSettings) -> Result<TlsParameters, Error> {
    let mut builder = TlsParameters::builder(e.server.clone());
    if let Some(path) = &e.ca_file {
        let pem = std::fs::read(path).map_err(|source| Error::Read {
            path: path.clone(),
            source,
        })?;
        let cert = Certificate::from_pem(&pem).map_err(|x| Error::Certificate {
            path: path.clone(),
            detail: with_causes(&x),
        })?;
        builder = builder.add_root_certificate(cert);
    }
    builder.build_rustls().map_err(|x| {
        let detail = with_causes(&x);
        Error::Tls(if detail.contains("No CA certificates") {
            format!(
                "{detail} — install the ca-certificates package, or name the server's CA in \
                     notify.email.ca_file"
            )
        } else {
            detail
        })
    })
}

fn mailer(e: &EmailSettings) -> Result<SmtpTransport, Error> {
    let tls = match e.tls {
        Tls::Starttls => SmtpTls::Required(tls_parameters(e)?),
        Tls::Implicit => SmtpTls::Wrapper(tls_parameters(e)?),
        Tls::None => SmtpTls::None,
    };
    let mut builder = SmtpTransport::builder_dangerous(&e.server)
        .tls(tls)
        .port(e.port)
        .timeout(Some(e.timeout));
    if let Some(path) = &e.credentials {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.clone(),
            source,
        })?;
        let mut lines = text.lines();
        let (Some(user), Some(pass)) = (lines.next(), lines.next()) else {
            return Err(Error::Credentials { path: path.clone() });
        };
        builder = builder.credentials(Credentials::new(user.trim().to_string(), pass.to_string()));
    }
    Ok(builder.build())
}

fn mailbox(address: &str) -> Result<Mailbox, Error> {
    address
        .parse()
        .map_err(|x: lettre::address::AddressError| Error::Address {
            address: address.to_string(),
            detail: x.to_string(),
        })
}

/// The message as MIME (text and HTML alternatives), ready to send or queue.
pub fn render(e: &EmailSettings, m: &Message) -> Result<Vec<u8>, Error> {
    let mut builder = lettre::Message::builder()
        .from(mailbox(&e.from)?)
        .subject(m.subject.clone())
        .message_id(Some(format!("<{}.{}@coldspare>", m.id, m.cluster)));
    for to in &e.to {
        builder = builder.to(mailbox(to)?);
    }
    builder
        .multipart(MultiPart::alternative_plain_html(
            m.text.clone(),
            m.html.clone(),
        ))
        .map(|m| m.formatted())
        .map_err(|x| Error::Build(x.to_string()))
}

/// Sends a rendered mail.
pub fn send(e: &EmailSettings, from: &str, to: &[String], raw: &[u8]) -> Result<(), Error> {
    let address = |a: &str| {
        a.parse()
            .map_err(|x: lettre::address::AddressError| Error::Address {
                address: a.to_string(),
                detail: x.to_string(),
            })
    };
    let envelope = lettre::address::Envelope::new(
        Some(address(from)?),
        to.iter().map(|t| address(t)).collect::<Result<_, _>>()?,
    )
    .map_err(|x| Error::Build(x.to_string()))?;
    mailer(e)?
        .send_raw(&envelope, raw)
        .map(|_| ())
        .map_err(|x| {
            // A port and a TLS mode that do not go together fail in ways
            // that name neither (a wait, a "corrupt message"): say it.
            let hint = match (e.tls, e.port) {
                (Tls::Starttls, 465) => {
                    " — port 465 speaks implicit TLS: set notify.email.tls: implicit"
                }
                (Tls::Implicit, 25 | 587) => {
                    " — this port speaks STARTTLS: set notify.email.tls: starttls"
                }
                _ => "",
            };
            let detail = format!("{}{hint}", with_causes(&x));
            let (server, port) = (e.server.clone(), e.port);
            if timed_out(&x) {
                Error::Timeout {
                    server,
                    port,
                    timeout: cluster::config::duration::format(e.timeout),
                    detail,
                }
            } else if let Some(refusal) = crate::tls::refusal(&x) {
                match refusal {
                    // A trusted certificate, but for another name: the
                    // name is the thing to fix.
                    Refusal::WrongName { .. } => Error::WrongName {
                        server,
                        port,
                        detail: refusal.to_string(),
                    },
                    Refusal::Untrusted if e.ca_file.is_none() => Error::UntrustedCertificate {
                        server,
                        port,
                        detail: format!("the server's certificate was refused: {refusal}"),
                    },
                    Refusal::Untrusted => Error::Smtp {
                        server,
                        port,
                        detail: "the server's certificate was refused: neither the system's \
                                 authorities nor notify.email.ca_file signed it"
                            .into(),
                    },
                    _ => Error::Smtp {
                        server,
                        port,
                        detail: format!("the server's certificate was refused: {refusal}"),
                    },
                }
            } else {
                Error::Smtp {
                    server,
                    port,
                    detail,
                }
            }
        })
}
