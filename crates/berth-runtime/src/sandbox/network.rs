//! Sandbox networking with rtnetlink: `lo` up in the sandbox, and optionally a veth pair whose
//! host end is a port of a Linux bridge (created on first use, with the gateway address) and
//! whose other end is the sandbox's `eth0` with an address and a default route.
//!
//! A netlink socket acts on the network namespace it was opened in. The sandbox-side socket
//! is therefore opened on the namespace thread (see `namespaces.rs`) and handed back; the
//! host-side one is opened by the caller. Both connections are driven by the caller's future
//! next to the requests ([`drive`]), so no task is spawned and a connection that dies is
//! noticed.
//!
//! The veth pair is created in one request with its peer already named `eth0` inside the
//! sandbox and its host end already attached to the bridge and up: no temporary names and no
//! rename.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;

use futures::TryStreamExt;
use rtnetlink::packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::{
    Handle, LinkBridge, LinkMessageBuilder, LinkUnspec, LinkVeth, RouteMessageBuilder,
};
use sha2::{Digest, Sha256};

use super::error::{io, netlink, Error, Result};
use super::ipam::Subnet;

/// The interface name of the sandbox end of the veth pair.
pub const SANDBOX_IFNAME: &str = "eth0";

type Connection = rtnetlink::proto::Connection<RouteNetlinkMessage>;

/// A netlink connection: the future that does the I/O, and the handle that sends requests.
pub(crate) struct Netlink {
    pub connection: Connection,
    pub handle: Handle,
}

/// Open a netlink connection in the calling thread's network namespace, registered with the
/// runtime `rt` (the namespace thread has no runtime of its own).
pub(crate) fn connect(rt: &tokio::runtime::Handle) -> Result<Netlink> {
    let _entered = rt.enter();
    let (connection, handle, _unsolicited) =
        rtnetlink::new_connection().map_err(io("opening a netlink socket"))?;
    Ok(Netlink { connection, handle })
}

/// Run `work` while driving `connection`. A connection only finishes on its own when its
/// socket fails, which would leave `work` waiting for answers forever, so that is an error.
/// Driving the connection here rather than in a spawned task also means requests are never
/// left unanswered without anyone noticing.
pub(crate) async fn drive<T>(
    work: impl Future<Output = Result<T>>,
    connection: Connection,
    doing: &'static str,
) -> Result<T> {
    tokio::select! {
        biased;
        result = work => result,
        () = connection => Err(Error::NetlinkClosed(doing)),
    }
}

/// The host-side veth name of sandbox `id`: `vb` and 8 hex digits of the SHA-256 of the id.
/// Deterministic, so a half-created sandbox's interface can be found again without state.
pub fn host_veth_name(id: &str) -> String {
    let digest = Sha256::digest(id.as_bytes());
    format!("vb{}", hex::encode(&digest[..4]))
}

/// The alias set on the host veth: marks the interface as this sandbox's, and tells an
/// administrator looking at `ip link` where it comes from.
fn veth_alias(id: &str) -> String {
    format!("berth:{id}")
}

/// How a sandbox is attached to a bridge.
pub(crate) struct Attachment<'a> {
    pub id: &'a str,
    pub subnet: Subnet,
    pub ip: Ipv4Addr,
    pub host_veth: &'a str,
    pub mtu: Option<u32>,
    /// An open file of the sandbox's network namespace.
    pub netns: &'a std::fs::File,
}

/// Configure the inside of the sandbox through `ns`, a connection opened in its namespace:
/// `lo` up and, when attached, `eth0` up with its address and default route.
///
/// The kernel handles a socket's requests one after the other, in the order sent, so requests
/// that only depend on an earlier one having been applied (not on its answer) are sent
/// together: one round trip for `lo` up, `eth0` up and the lookup of its index, one for the
/// address and the route (which reaches the gateway through the address's subnet route).
pub(crate) async fn configure_sandbox(
    ns: &Handle,
    attachment: Option<&Attachment<'_>>,
) -> Result<()> {
    let Some(att) = attachment else {
        return set_up(ns, "lo").await;
    };
    let (lo, eth0_up, eth0) = tokio::join!(
        set_up(ns, "lo"),
        set_up(ns, SANDBOX_IFNAME),
        link_by_name(ns, SANDBOX_IFNAME)
    );
    lo?;
    eth0_up?;
    let index = eth0?
        .ok_or_else(|| Error::Netlink {
            context: format!("{SANDBOX_IFNAME} is missing in the sandbox after veth creation"),
            source: rtnetlink::Error::RequestFailed,
        })?
        .header
        .index;
    let gateway = att.subnet.gateway();
    let prefix_len = att.subnet.prefix_len();
    let address = async {
        ns.address()
            .add(index, IpAddr::V4(att.ip), prefix_len)
            .execute()
            .await
            .map_err(netlink(format!(
                "adding {}/{prefix_len} to {SANDBOX_IFNAME}",
                att.ip
            )))
    };
    let route = async {
        ns.route()
            .add(
                RouteMessageBuilder::<Ipv4Addr>::new()
                    .gateway(gateway)
                    .output_interface(index)
                    .build(),
            )
            .execute()
            .await
            .map_err(netlink(format!("adding the default route via {gateway}")))
    };
    // `futures::future::join` polls in argument order, and a request is queued on its
    // first poll, so the address reaches the kernel before the route that needs it.
    let (address, route) = futures::future::join(address, route).await;
    // The address error first: a failed address makes the route fail too.
    address?;
    route
}

async fn set_up(handle: &Handle, name: &str) -> Result<()> {
    handle
        .link()
        .set(LinkUnspec::new_with_name(name).up().build())
        .execute()
        .await
        .map_err(netlink(format!("bringing {name} up in the sandbox")))
}

/// The errno of a netlink error reply, positive (e.g. `libc::EEXIST`).
fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(msg) => msg.code.map(|c| -c.get()),
        _ => None,
    }
}

/// Look a link up by name; `None` if there is none.
async fn link_by_name(handle: &Handle, name: &str) -> Result<Option<LinkMessage>> {
    let mut links = handle.link().get().match_name(name).execute();
    match links.try_next().await {
        Ok(link) => Ok(link),
        Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(None),
        Err(e) => Err(netlink(format!("looking up link {name}"))(e)),
    }
}

/// A bridge found or created by [`find_or_create_bridge`].
pub(crate) struct Bridge {
    pub index: u32,
    up: bool,
}

/// Find the bridge `name`, creating it (up) if it is missing. Safe against another process
/// doing the same at the same time: "exists already" is fine.
pub(crate) async fn find_or_create_bridge(
    host: &Handle,
    name: &str,
    mtu: Option<u32>,
) -> Result<Bridge> {
    let link = match link_by_name(host, name).await? {
        Some(link) => link,
        None => {
            let mut builder = LinkBridge::new(name);
            if let Some(mtu) = mtu {
                builder = builder.mtu(mtu);
            }
            match host.link().add(builder.build()).execute().await {
                Ok(()) => {}
                Err(e) if errno(&e) == Some(libc::EEXIST) => {}
                Err(e) => return Err(netlink(format!("creating bridge {name}"))(e)),
            }
            link_by_name(host, name)
                .await?
                .ok_or_else(|| Error::InvalidConfig {
                    field: "bridge",
                    value: name.to_string(),
                    reason: "disappeared right after it was created".to_string(),
                })?
        }
    };
    if !is_bridge(&link) {
        return Err(Error::InvalidConfig {
            field: "bridge",
            value: name.to_string(),
            reason: "an interface of that name exists and is not a bridge".to_string(),
        });
    }
    Ok(Bridge {
        index: link.header.index,
        up: link.header.flags.contains(LinkFlags::Up),
    })
}

/// Make sure the bridge has the gateway address and is up. Both may have been done already
/// by another sandbox or process, which is fine.
pub(crate) async fn configure_bridge(
    host: &Handle,
    bridge: &Bridge,
    name: &str,
    subnet: &Subnet,
) -> Result<()> {
    match host
        .address()
        .add(
            bridge.index,
            IpAddr::V4(subnet.gateway()),
            subnet.prefix_len(),
        )
        .execute()
        .await
    {
        Ok(()) => {}
        Err(e) if errno(&e) == Some(libc::EEXIST) => {}
        Err(e) => {
            return Err(netlink(format!(
                "adding {}/{} to bridge {name}",
                subnet.gateway(),
                subnet.prefix_len()
            ))(e))
        }
    }
    if !bridge.up {
        host.link()
            .set(LinkUnspec::new_with_index(bridge.index).up().build())
            .execute()
            .await
            .map_err(netlink(format!("bringing bridge {name} up")))?;
    }
    Ok(())
}

fn is_bridge(link: &LinkMessage) -> bool {
    use rtnetlink::packet_route::link::{InfoKind, LinkInfo};
    link.attributes.iter().any(|attr| match attr {
        LinkAttribute::LinkInfo(infos) => infos
            .iter()
            .any(|i| matches!(i, LinkInfo::Kind(InfoKind::Bridge))),
        _ => false,
    })
}

/// Create the veth pair: host end attached to `bridge` and up, peer named `eth0` and created
/// directly in the sandbox's namespace. Fails with [`Error::VethNameCollision`] if the host
/// name is taken.
pub(crate) async fn create_veth(
    host: &Handle,
    att: &Attachment<'_>,
    bridge: &Bridge,
) -> Result<()> {
    // Not `up`: the kernel configures the peer before pairing it, and opening an unpaired
    // veth fails with ENOTCONN. It is brought up from inside the sandbox.
    let mut peer = LinkMessageBuilder::<LinkUnspec>::new()
        .name(SANDBOX_IFNAME)
        .setns_by_fd(att.netns.as_raw_fd());
    let mut veth = LinkVeth::new(att.host_veth, SANDBOX_IFNAME)
        .up()
        .controller(bridge.index);
    if let Some(mtu) = att.mtu {
        peer = peer.mtu(mtu);
        veth = veth.mtu(mtu);
    }
    let message = veth
        .set_info_data(InfoData::Veth(InfoVeth::Peer(peer.build())))
        .build();
    match host.link().add(message).execute().await {
        Ok(()) => Ok(()),
        Err(e) if errno(&e) == Some(libc::EEXIST) => Err(Error::VethNameCollision {
            name: att.host_veth.to_string(),
            id: att.id.to_string(),
        }),
        Err(e) => Err(netlink(format!(
            "creating veth pair {} <-> {SANDBOX_IFNAME}",
            att.host_veth
        ))(e)),
    }
}

/// Mark the host veth as sandbox `id`'s. The kernel ignores an alias in the request that
/// creates a link, so it is set afterwards; not in the same batch, since a create that fails
/// because another sandbox's veth has the name must not relabel that one.
pub(crate) async fn set_alias(host: &Handle, name: &str, id: &str) -> Result<()> {
    host.link()
        .set(
            LinkUnspec::new_with_name(name)
                .alias(veth_alias(id))
                .build(),
        )
        .execute()
        .await
        .map_err(netlink(format!("setting the alias of {name}")))
}

/// Delete the host veth `name`. With `owner`, only if it carries the alias of sandbox `owner`
/// (used when the sandbox's own record is missing, to never delete an interface of another
/// sandbox whose id hashes to the same name). Returns whether an interface was deleted.
pub(crate) async fn delete_host_veth(name: &str, owner: Option<&str>) -> Result<bool> {
    let Netlink {
        connection: conn,
        handle: host,
    } = connect(&tokio::runtime::Handle::current())?;
    let expected_alias = owner.map(veth_alias);
    let work = async {
        let Some(link) = link_by_name(&host, name).await? else {
            return Ok(false);
        };
        if let Some(expected) = &expected_alias {
            let alias = link.attributes.iter().find_map(|a| match a {
                LinkAttribute::IfAlias(alias) => Some(alias.as_str()),
                _ => None,
            });
            if alias != Some(expected.as_str()) {
                return Ok(false);
            }
        }
        match host.link().del(link.header.index).execute().await {
            Ok(()) => Ok(true),
            // Gone meanwhile, e.g. with its namespace.
            Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(false),
            Err(e) => Err(netlink(format!("deleting {name}"))(e)),
        }
    };
    drive(work, conn, "deleting the host veth").await
}

/// Delete the bridge `name` if it exists and is a bridge. Returns whether one was deleted.
pub(crate) async fn delete_bridge(name: &str) -> Result<bool> {
    let Netlink {
        connection: conn,
        handle: host,
    } = connect(&tokio::runtime::Handle::current())?;
    let work = async {
        let Some(link) = link_by_name(&host, name).await? else {
            return Ok(false);
        };
        let is_bridge = link.attributes.iter().any(|a| match a {
            LinkAttribute::LinkInfo(infos) => infos
                .iter()
                .any(|i| matches!(i, LinkInfo::Kind(InfoKind::Bridge))),
            _ => false,
        });
        if !is_bridge {
            return Ok(false);
        }
        match host.link().del(link.header.index).execute().await {
            Ok(()) => Ok(true),
            Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(false),
            Err(e) => Err(netlink(format!("deleting bridge {name}"))(e)),
        }
    };
    drive(work, conn, "deleting a bridge").await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn veth_names_fit_and_are_stable() {
        let a = host_veth_name("sandbox-a");
        assert_eq!(a, host_veth_name("sandbox-a"));
        assert_ne!(a, host_veth_name("sandbox-b"));
        assert_eq!(a.len(), 10);
        assert!(a.len() <= 15);
        assert!(a.starts_with("vb"));
        let long = "x".repeat(128);
        assert_eq!(host_veth_name(&long).len(), 10);
    }
}
