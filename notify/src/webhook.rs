//! The webhook: the message's JSON document POSTed to a URL. A webhook URL
//! often carries its token in the path, so nothing here ever shows more of
//! it than the scheme, host and port.

use std::time::Duration;

use crate::error::{Error, with_causes};

pub fn send(url: &str, timeout: Duration, body: &[u8]) -> Result<(), Error> {
    let origin = reqwest::Url::parse(url)
        .map(|u| u.origin().ascii_serialization())
        .map_err(|e| Error::WebhookUrl(e.to_string()))?;
    let failed = |e: reqwest::Error| Error::Webhook {
        origin: origin.clone(),
        detail: {
            let untrusted = crate::tls::refusal(&e) == Some(crate::tls::Refusal::Untrusted);
            let mut d = with_causes(&e.without_url());
            if untrusted && crate::tls::no_system_roots() {
                d.push_str(
                    "; this machine has no certificate authorities at all: install the \
                     ca-certificates package",
                );
            }
            d
        },
    };
    let client = crate::tls::http_client(|| reqwest::blocking::Client::builder().timeout(timeout))
        .map_err(&failed)?;
    let resp = client
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_vec())
        .send()
        .map_err(&failed)?;
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(Error::WebhookStatus {
            origin,
            status: resp.status().to_string(),
        })
    }
}
