//! A file owned by a user who exists only on the primary: said in the plan
//! and in verify as the failover risk it is, and a sync that converges
//! instead of "applying" the same owner at every run.

use crate::lab;

#[test]
fn a_user_missing_on_the_secondary_is_a_risk_named_and_the_plan_converges() {
    let lab = lab!();
    let cs = |args: &[&str]| lab.client().coldspare(args);
    cs(&["sync"]).expect_ok("first sync");
    lab.primary()
        .sh("useradd -u 1234 -M -s /usr/sbin/nologin appuser && chown appuser /srv/app/config/app.conf")
        .expect_ok("a user only the primary has");
    let warning = "WARNING user `appuser` (uid 1234) does not exist on secondary: its files there \
                   carry the bare number, and a service running as it would not start after a \
                   failover; create it there with the same id";
    // The first sync writes the owner; the node can only hold the number.
    cs(&["sync"])
        .expect_ok("sync the owner")
        .has("attrs  /srv/app/config/app.conf  (owner root:root → appuser:root)");
    let owner = lab
        .secondary()
        .exec(&["stat", "-c", "%u", "/srv/app/config/app.conf"])
        .expect_ok("stat");
    assert_eq!(owner.stdout.trim(), "1234");
    // The next sync has nothing to do: the number is all the node can hold.
    let again = cs(&["sync"]).expect_ok("sync again");
    assert!(!again.stdout.contains("attrs "), "{}", again.stdout);
    again.has("already matches capture");
    again.has(warning);
    let verify = cs(&["verify", "--no-notify"]);
    assert_eq!(verify.status, 1, "{}", verify.stdout);
    verify.has(
        "owner: user `appuser` (uid 1234) does not exist on the secondary: a service running as \
         it would not start after a failover",
    );
    // Created on the secondary with the same id: all good.
    lab.secondary()
        .sh("useradd -u 1234 -M -s /usr/sbin/nologin appuser")
        .expect_ok("create the user on the secondary");
    let after = cs(&["sync"]).expect_ok("sync after");
    assert!(!after.stdout.contains("WARNING"), "{}", after.stdout);
    cs(&["verify", "--no-notify"]).expect_ok("verify after");
}
