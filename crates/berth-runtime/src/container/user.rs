//! Resolving a docker-style `user[:group]` against the image's `/etc/passwd` and
//! `/etc/group`, the way Docker does: numbers are taken as they are, names must exist.

use std::path::Path;

use super::error::{Error, Result};

/// The identity a container process runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Supplementary groups the user is a member of in `/etc/group`.
    pub additional_gids: Vec<u32>,
    /// The user's home directory, for `HOME`.
    pub home: String,
}

/// Resolve `spec` (`""` means root) against the files of the root file system at `rootfs`.
pub fn resolve(rootfs: &Path, spec: &str) -> Result<Identity> {
    let passwd = std::fs::read_to_string(rootfs.join("etc/passwd")).unwrap_or_default();
    let group = std::fs::read_to_string(rootfs.join("etc/group")).unwrap_or_default();
    resolve_in(&passwd, &group, spec)
}

/// Resolve `spec` against the contents of passwd and group files.
pub fn resolve_in(passwd: &str, group: &str, spec: &str) -> Result<Identity> {
    let (user, group_part) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let user = if user.is_empty() { "0" } else { user };
    let entry = passwd_entries(passwd).find(|e| e.name == user || e.uid.to_string() == user);
    let (uid, mut gid, name, home) = match (entry, user.parse::<u32>()) {
        (Some(e), _) => (e.uid, e.gid, Some(e.name.to_string()), e.home.to_string()),
        (None, Ok(uid)) => (uid, 0, None, "/".to_string()),
        (None, Err(_)) => return Err(Error::UnknownUser(user.to_string())),
    };
    if let Some(g) = group_part {
        gid = match group_entries(group).find(|e| e.name == g) {
            Some(e) => e.gid,
            None => g
                .parse()
                .map_err(|_| Error::UnknownUser(format!("{user}:{g} (no such group {g})")))?,
        };
    }
    let mut additional_gids: Vec<u32> = match &name {
        Some(name) => group_entries(group)
            .filter(|e| e.members.split(',').any(|m| m == name) && e.gid != gid)
            .map(|e| e.gid)
            .collect(),
        None => Vec::new(),
    };
    additional_gids.sort_unstable();
    additional_gids.dedup();
    Ok(Identity {
        uid,
        gid,
        additional_gids,
        home: if home.is_empty() { "/".into() } else { home },
    })
}

struct PasswdEntry<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
    home: &'a str,
}

fn passwd_entries(text: &str) -> impl Iterator<Item = PasswdEntry<'_>> {
    text.lines().filter_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 7 {
            return None;
        }
        Some(PasswdEntry {
            name: f[0],
            uid: f[2].parse().ok()?,
            gid: f[3].parse().ok()?,
            home: f[5],
        })
    })
}

struct GroupEntry<'a> {
    name: &'a str,
    gid: u32,
    members: &'a str,
}

fn group_entries(text: &str) -> impl Iterator<Item = GroupEntry<'_>> {
    text.lines().filter_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 4 {
            return None;
        }
        Some(GroupEntry {
            name: f[0],
            gid: f[2].parse().ok()?,
            members: f[3],
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str =
        "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/var/www:/bin/false\nbroken line\n";
    const GROUP: &str = "root:x:0:\nwww:x:33:\nstaff:x:50:www,other\n";

    #[test]
    fn root_by_default() {
        let id = resolve_in(PASSWD, GROUP, "").unwrap();
        assert_eq!((id.uid, id.gid, id.home.as_str()), (0, 0, "/root"));
    }

    #[test]
    fn names_and_groups() {
        let id = resolve_in(PASSWD, GROUP, "www").unwrap();
        assert_eq!((id.uid, id.gid), (33, 33));
        assert_eq!(id.additional_gids, vec![50]);
        let id = resolve_in(PASSWD, GROUP, "www:staff").unwrap();
        assert_eq!(id.gid, 50);
        assert!(id.additional_gids.is_empty());
    }

    #[test]
    fn numbers_need_no_entry() {
        let id = resolve_in(PASSWD, GROUP, "1000:1000").unwrap();
        assert_eq!((id.uid, id.gid, id.home.as_str()), (1000, 1000, "/"));
    }

    #[test]
    fn unknown_names_fail() {
        assert!(matches!(
            resolve_in(PASSWD, GROUP, "nobody"),
            Err(Error::UnknownUser(_))
        ));
        assert!(resolve_in(PASSWD, GROUP, "www:nogroup").is_err());
    }
}
