//! User and group names by id and ids by name, looked up once each through
//! the node's own user database (NSS). Owners travel by name because the
//! same account can have different ids on two machines.

use std::collections::HashMap;

use nix::unistd::{Gid, Group, Uid, User};

#[derive(Default)]
pub struct Names {
    users: HashMap<u32, Option<String>>,
    groups: HashMap<u32, Option<String>>,
    uids: HashMap<String, Option<u32>>,
    gids: HashMap<String, Option<u32>>,
}

impl Names {
    pub fn user(&mut self, uid: u32) -> Option<String> {
        self.users
            .entry(uid)
            .or_insert_with(|| {
                User::from_uid(Uid::from_raw(uid))
                    .ok()
                    .flatten()
                    .map(|u| u.name)
            })
            .clone()
    }

    pub fn group(&mut self, gid: u32) -> Option<String> {
        self.groups
            .entry(gid)
            .or_insert_with(|| {
                Group::from_gid(Gid::from_raw(gid))
                    .ok()
                    .flatten()
                    .map(|g| g.name)
            })
            .clone()
    }

    /// The id of `name` here, else `fallback` (the id on the source node).
    pub fn uid(&mut self, name: Option<&str>, fallback: u32) -> u32 {
        let Some(name) = name else { return fallback };
        self.uids
            .entry(name.to_string())
            .or_insert_with(|| User::from_name(name).ok().flatten().map(|u| u.uid.as_raw()))
            .unwrap_or(fallback)
    }

    pub fn gid(&mut self, name: Option<&str>, fallback: u32) -> u32 {
        let Some(name) = name else { return fallback };
        self.gids
            .entry(name.to_string())
            .or_insert_with(|| {
                Group::from_name(name)
                    .ok()
                    .flatten()
                    .map(|g| g.gid.as_raw())
            })
            .unwrap_or(fallback)
    }
}
