//! What a sync keeps of what it replaced: a backup is never a second name of
//! a live file. An owner-only change keeps a copy with the old owner and
//! mode; an in-place append afterwards does not reach it.

use coldspare_lab::Lab;

use crate::lab;

fn coldspare(lab: &Lab, args: &[&str]) -> coldspare_lab::Output {
    lab.client().coldspare(args)
}

#[test]
#[cfg_attr(lab_skip, ignore = "COLDSPARE_LAB=skip: a lab test, not run")]
fn an_owner_only_change_keeps_a_real_copy_of_the_old_file() {
    let lab = lab!();
    coldspare(&lab, &["sync"]).expect_ok("first sync");
    let conf = "/srv/app/config/app.conf";
    let before = lab
        .secondary()
        .sh(&format!("stat -c '%U:%G %a' {conf}; cat {conf}"))
        .expect_ok("the secondary's file")
        .stdout;
    lab.primary()
        .sh(&format!(
            "chown www-data:www-data {conf} && chmod 640 {conf}"
        ))
        .expect_ok("owner and mode change on the primary");
    coldspare(&lab, &["sync"])
        .expect_ok("sync the owner change")
        .has(&format!("attrs  {conf}"));
    lab.secondary()
        .sh(&format!("echo 'appended later' >> {conf}"))
        .expect_ok("an in-place append on the secondary");
    let kept = lab
        .secondary()
        .sh(&format!(
            "set -e; b=$(ls -d /var/lib/coldspare/backup/*/files{conf} | tail -n 1); \
             stat -c '%U:%G %a' \"$b\"; cat \"$b\"; stat -c %i \"$b\" {conf}"
        ))
        .expect_ok("the backup")
        .stdout;
    let mut lines = kept.lines();
    let (Some(inode_backup), Some(inode_live)) =
        (kept.lines().rev().nth(1), kept.lines().next_back())
    else {
        panic!("no inodes in {kept}");
    };
    assert_ne!(
        inode_backup, inode_live,
        "the backup shares the live inode:\n{kept}"
    );
    let head: String = lines
        .by_ref()
        .take(before.lines().count())
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(
        head, before,
        "old owner, mode and content in the backup:\n{kept}"
    );
    assert!(!kept.contains("appended later"), "{kept}");
}
