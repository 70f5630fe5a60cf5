//! Checks that verify the node they name, against the lab's nginx: a
//! secondary whose site redirects to the primary fails its web check (the
//! primary must not answer for it), a site checked by its real name is
//! reached on each node's address with that name as Host and TLS SNI and its
//! certificate checked for that name, and redirects on the node itself are
//! followed when a check asks for it.

use std::path::Path;

use coldspare_lab::{Lab, Output};

use crate::lab;

fn coldspare(lab: &Lab, args: &[&str]) -> Output {
    lab.client().coldspare(args)
}

/// The quick verify's results (service checks only, nothing mailed), as
/// (node, check name) -> (ok, detail).
fn quick_verify(lab: &Lab, cfg: &Path) -> (i32, Vec<(String, String, bool, String)>) {
    let out = coldspare(
        lab,
        &[
            "--config",
            &cfg.to_string_lossy(),
            "--json",
            "verify",
            "--quick",
            "--no-notify",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", out.stdout, out.stderr));
    let rows = v["report"]["checks"]
        .as_array()
        .unwrap_or_else(|| panic!("no checks: {v}"))
        .iter()
        .map(|r| {
            (
                r["node"].as_str().unwrap().to_string(),
                r["check"].as_str().unwrap().to_string(),
                r["ok"].as_bool().unwrap(),
                r["detail"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    (out.status, rows)
}

/// The one result of the check named `check` on `node`.
fn result<'a>(
    rows: &'a [(String, String, bool, String)],
    node: &str,
    check: &str,
) -> (bool, &'a str) {
    let r = rows
        .iter()
        .find(|r| r.0 == node && r.1 == check)
        .unwrap_or_else(|| panic!("no `{check}` on {node}: {rows:#?}"));
    (r.2, &r.3)
}

/// Waits (up to 10 s) until `probe`, a shell command run on the client
/// host, succeeds: nginx applies a reload in the background.
fn wait_for_probe(lab: &Lab, probe: &str) {
    lab.client()
        .sh(&format!(
            "i=0; until {probe}; do i=$((i+1)); [ $i -ge 100 ] && exit 1; sleep 0.1; done"
        ))
        .expect_ok(&format!("waiting for: {probe}"));
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn a_secondary_redirecting_to_the_primary_fails_its_web_check() {
    let lab = lab!();
    // The secondary's site sends every visitor to the primary: a client
    // following it gets the primary's page, status and certificate.
    lab.secondary()
        .sh("sed -i 's#^\\(\\s*server_name _;\\)#\\1\\n\\treturn 301 http://198.51.100.11/;#' \
             /etc/nginx/sites-enabled/default && grep -q 'return 301' /etc/nginx/sites-enabled/default \
             && nginx -t 2>&1 && nginx -s reload")
        .expect_ok("redirect the secondary to the primary");
    wait_for_probe(
        &lab,
        "curl -s -o /dev/null -w '%{http_code}' http://198.51.100.12/ | grep -qx 301",
    );
    let dir = tempfile::tempdir().unwrap();
    let (status, rows) = quick_verify(&lab, &lab.config_path());
    assert_eq!(status, 1, "{rows:#?}");
    let check = "http GET http://{address}/";
    let (ok, detail) = result(&rows, "secondary", check);
    assert!(!ok, "the primary answered for the secondary: {detail}");
    assert_eq!(
        detail,
        "http://198.51.100.12/: HTTP 301, redirects to http://198.51.100.11/ — the other node \
         (primary): this check would be answered by primary, not secondary"
    );
    let (ok, detail) = result(&rows, "primary", check);
    assert!(ok, "{detail}");

    // Opting in to redirects does not let the check leave the node either.
    let cfg = lab.config_variant(dir.path(), |t| {
        t.replace(
            "url: \"http://{address}/\",",
            "url: \"http://{address}/\", follow_redirects: true,",
        )
    });
    let (_, rows) = quick_verify(&lab, &cfg);
    let (ok, detail) = result(&rows, "secondary", check);
    assert!(!ok, "{detail}");
    assert!(
        detail.contains("redirects to http://198.51.100.11/ — the other node (primary)"),
        "{detail}"
    );
}

/// Makes a certificate authority in `dir` (on the client host) and, for
/// each name, a certificate it signs (`NAME.pem`: certificate and key).
fn make_ca(lab: &Lab, dir: &Path, names: &[&str]) {
    let d = dir.display();
    let mut script = format!(
        "set -e; cd {d}; openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
         -days 30 -subj /CN=coldspare-test-CA -keyout ca.key -out ca.crt 2>&1; "
    );
    for name in names {
        script.push_str(&format!(
            "printf 'subjectAltName=DNS:{name}\\n' > {name}.ext; \
             openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN={name} \
             -keyout {name}.key -out {name}.csr 2>&1; \
             openssl x509 -req -in {name}.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 \
             -extfile {name}.ext -out {name}.crt 2>&1; cat {name}.crt {name}.key > {name}.pem; "
        ));
    }
    lab.client()
        .sh(&script)
        .expect_ok("make a CA and certificates");
}

/// Serves www.example.com on `node` with `pem` (certificate and key): http
/// redirects to https, `/` redirects to `/app/`, and `/app/` names the node
/// that answered. Any other name gets a default https site with another
/// certificate, so only a request with the right SNI and Host reaches the app.
fn serve_named_site(lab: &Lab, node: &str, pem: &Path, default_pem: &Path) {
    let n = lab.node(if node == "primary" {
        "primary"
    } else {
        "secondary"
    });
    for (file, pem) in [("www.pem", pem), ("default.pem", default_pem)] {
        n.sh_with_input(
            &format!("mkdir -p /etc/lab-tls && cat > /etc/lab-tls/{file} && chmod 600 /etc/lab-tls/{file}"),
            &std::fs::read(pem).unwrap(),
        )
        .expect_ok("install a certificate");
    }
    n.sh("cat > /etc/nginx/conf.d/www.conf <<'EOF'
server {
  listen 80;
  server_name www.example.com;
  return 301 https://$host$request_uri;
}
server {
  listen 443 ssl default_server;
  ssl_certificate /etc/lab-tls/default.pem;
  ssl_certificate_key /etc/lab-tls/default.pem;
  return 200 \"default site\\n\";
}
server {
  listen 443 ssl;
  server_name www.example.com;
  ssl_certificate /etc/lab-tls/www.pem;
  ssl_certificate_key /etc/lab-tls/www.pem;
  location = / { return 302 /app/; }
  location /app/ { return 200 \"app on $hostname\\n\"; }
}
EOF
nginx -t 2>&1 && nginx -s reload")
        .expect_ok("serve www.example.com");
}

/// The lab's configuration with one more service, `site`, whose checks
/// are `checks` (YAML list items, one per line).
fn with_site_checks(lab: &Lab, dir: &Path, checks: &str) -> std::path::PathBuf {
    lab.config_variant(dir, |t| {
        t.replace(
            "services:\n",
            &format!("services:\n  site:\n    checks:\n{checks}"),
        )
    })
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn a_named_site_is_checked_on_each_node_under_its_name() {
    let lab = lab!();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    make_ca(
        &lab,
        d,
        &["www.example.com", "old.example.com", "default.invalid"],
    );
    for node in ["primary", "secondary"] {
        serve_named_site(
            &lab,
            node,
            &d.join("www.example.com.pem"),
            &d.join("default.invalid.pem"),
        );
    }
    let ca = d.join("ca.crt");
    let ca = ca.display();
    for addr in ["198.51.100.11", "198.51.100.12"] {
        wait_for_probe(
            &lab,
            &format!(
                "curl -sf --cacert {ca} --resolve www.example.com:443:{addr} \
                 https://www.example.com/app/ | grep -q 'app on'"
            ),
        );
    }
    let cfg = with_site_checks(
        &lab,
        d,
        &format!(
            "      - {{ name: app, http: {{ url: \"https://www.example.com/app/\", ca_file: {ca}, contains: \"app on primary\" }}, nodes: primary }}
      - {{ name: app, http: {{ url: \"https://www.example.com/app/\", ca_file: {ca}, contains: \"app on secondary\" }}, nodes: secondary }}
      - {{ name: followed, http: {{ url: \"http://www.example.com/\", follow_redirects: true, ca_file: {ca}, contains: \"app on\" }} }}
      - {{ name: not followed, http: {{ url: \"http://www.example.com/\" }} }}
      - {{ name: moved, http: {{ url: \"https://www.example.com/\", status: 302, ca_file: {ca} }} }}
"
        ),
    );
    let (_, rows) = quick_verify(&lab, &cfg);
    for (node, addr) in [("primary", "198.51.100.11"), ("secondary", "198.51.100.12")] {
        // Each node answered under the site's name, certificate checked.
        let (ok, detail) = result(&rows, node, "app");
        assert!(ok, "{node}: {detail}");
        assert!(
            detail.starts_with(&format!(
                "https://www.example.com/app/ at {addr}: HTTP 200 in "
            )),
            "{detail}"
        );
        assert!(detail.contains("certificate valid"), "{detail}");
        // http -> https -> /app/, all on the node itself.
        let (ok, detail) = result(&rows, node, "followed");
        assert!(ok, "{node}: {detail}");
        assert!(
            detail.contains("(after redirects, from https://www.example.com/app/)"),
            "{detail}"
        );
        // Without follow_redirects, the redirect is the answer.
        let (ok, detail) = result(&rows, node, "not followed");
        assert!(!ok, "{detail}");
        assert_eq!(
            detail,
            format!(
                "http://www.example.com/ at {addr}: HTTP 301, redirects to https://www.example.com/ \
                 (expected 200; `follow_redirects: true` follows redirects on the node itself)"
            )
        );
        let (ok, detail) = result(&rows, node, "moved");
        assert!(ok, "{node}: {detail}");
        assert!(
            detail.contains("HTTP 302, redirects to https://www.example.com/app/ in "),
            "{detail}"
        );
    }

    // The secondary serves a certificate for another name: its check fails,
    // the primary's still passes.
    lab.secondary()
        .sh_with_input(
            "cat > /etc/lab-tls/www.pem && nginx -s reload",
            &std::fs::read(d.join("old.example.com.pem")).unwrap(),
        )
        .expect_ok("the wrong certificate on the secondary");
    wait_for_probe(
        &lab,
        &format!(
            "! curl -s -o /dev/null --cacert {ca} --resolve www.example.com:443:198.51.100.12 \
             https://www.example.com/app/"
        ),
    );
    let (status, rows) = quick_verify(&lab, &cfg);
    assert_eq!(status, 1);
    let (ok, detail) = result(&rows, "secondary", "app");
    assert!(!ok, "a certificate for another name passed: {detail}");
    assert_eq!(
        detail,
        "https://www.example.com/app/ at 198.51.100.12: the certificate was refused: \
         it is not valid for www.example.com, only for old.example.com"
    );
    let (ok, detail) = result(&rows, "primary", "app");
    assert!(ok, "{detail}");
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn a_refused_certificate_is_named_for_what_to_fix() {
    let lab = lab!();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    make_ca(&lab, d, &["default.invalid"]);
    let dd = d.display();
    // A certificate from the CA that names its host only in its CN, and a
    // self-signed one made the quick way (`openssl req -x509`: CA:TRUE).
    lab.client()
        .sh(&format!(
            "set -e; cd {dd}; \
             openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=www.example.com \
             -keyout cn.key -out cn.csr 2>&1; \
             printf 'basicConstraints=CA:FALSE\\n' > cn.ext; \
             openssl x509 -req -in cn.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 \
             -extfile cn.ext -out cn.crt 2>&1; cat cn.crt cn.key > cn.pem; \
             openssl x509 -req -in cn.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 \
             -out v1.crt 2>&1; cat v1.crt cn.key > v1.pem; \
             openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
             -subj /CN=www.example.com -addext subjectAltName=DNS:www.example.com \
             -keyout self.key -out self.crt 2>&1; cat self.crt self.key > self.pem"
        ))
        .expect_ok("the certificates");
    let cfg = with_site_checks(
        &lab,
        d,
        &format!(
            "      - {{ name: by the CA, http: {{ url: \"https://www.example.com/app/\", ca_file: {dd}/ca.crt }}, nodes: secondary }}
      - {{ name: by itself, http: {{ url: \"https://www.example.com/app/\", ca_file: {dd}/self.crt }}, nodes: secondary }}
      - {{ name: by the system, http: {{ url: \"https://www.example.com/app/\" }}, nodes: secondary }}
"
        ),
    );
    let served = |pem: &str| {
        serve_named_site(
            &lab,
            "secondary",
            &d.join(pem),
            &d.join("default.invalid.pem"),
        );
        wait_for_probe(
            &lab,
            &format!(
                "[ \"$(echo | openssl s_client -connect 198.51.100.12:443 -servername \
                 www.example.com 2>/dev/null | openssl x509 -noout -fingerprint)\" = \
                 \"$(openssl x509 -in {dd}/{pem} -noout -fingerprint)\" ]"
            ),
        );
        quick_verify(&lab, &cfg).1
    };

    let rows = served("cn.pem");
    let (ok, detail) = result(&rows, "secondary", "by the CA");
    assert!(!ok, "{detail}");
    assert_eq!(
        detail,
        "https://www.example.com/app/ at 198.51.100.12: the certificate was refused: it names no \
         host in subjectAltName (a name only in its CN is not accepted): reissue it with \
         subjectAltName"
    );
    // No ca_file: the lab's CA is in no trust store here.
    let (ok, detail) = result(&rows, "secondary", "by the system");
    assert!(!ok, "{detail}");
    assert!(
        detail.ends_with(
            "the certificate was refused: no authority this machine trusts signed it (`ca_file` \
             adds a private one)"
        ),
        "{detail}"
    );
    // Another ca_file than the one that signed it: the hint does not tell
    // the admin to add what is already there.
    let (ok, detail) = result(&rows, "secondary", "by itself");
    assert!(!ok, "{detail}");
    assert!(
        detail.ends_with("neither this machine's authorities nor the check's ca_file signed it"),
        "{detail}"
    );

    // Without any extension, openssl makes a version 1 certificate.
    let rows = served("v1.pem");
    let (ok, detail) = result(&rows, "secondary", "by the CA");
    assert!(!ok, "{detail}");
    assert!(
        detail.ends_with(
            "it is an X.509 version 1 certificate, which TLS no longer accepts: reissue it as \
             version 3 with subjectAltName"
        ),
        "{detail}"
    );

    let rows = served("self.pem");
    let (ok, detail) = result(&rows, "secondary", "by itself");
    assert!(!ok, "{detail}");
    assert!(
        detail.contains("the server presents a CA certificate (CA:TRUE) as its own"),
        "{detail}"
    );
    for (_, name, _, detail) in &rows {
        assert!(
            !detail.contains("Other(") && !detail.contains("Error("),
            "{name}: no debugging text reaches the admin: {detail}"
        );
    }
}
