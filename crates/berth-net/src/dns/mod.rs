//! Cluster DNS (kube-dns's job) on every node, served by hickory-server on the node's bridge
//! address, which the `kube-dns` Service's ClusterIP leads to. Names of the cluster domain
//! are answered from a [`zone::Zone`] rebuilt from the node's [`ServiceCache`] on every
//! change (authoritative, TTL 5 s as CoreDNS's kubernetes plugin); every other name is
//! forwarded to the node's upstream resolvers ([`forward`]). hickory-server does the
//! protocol work: UDP and TCP, malformed messages (FORMERR, or dropped when not even a
//! header), truncation.

pub mod forward;
pub mod zone;

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use hickory_server::net::runtime::Time;
use hickory_server::proto::op::{Edns, Metadata, OpCode, ResponseCode};
use hickory_server::proto::rr::rdata::{A, AAAA, CNAME, PTR, SOA, SRV};
use hickory_server::proto::rr::{Name, RData, Record, RecordType};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;

use crate::cache::ServiceCache;
use zone::{Data, Kind, Lookup, Zone};

/// TTL of cluster records (CoreDNS's kubernetes plugin: 5 s).
const TTL: u32 = 5;
/// How long changes are gathered before the zone is rebuilt.
const BATCH: Duration = Duration::from_millis(20);

/// Errors starting the DNS server.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    /// The address could not be bound.
    #[error("binding {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
}

/// Where and what the DNS server serves.
#[derive(Debug, Clone)]
pub struct DnsConfig {
    /// The address to listen on (UDP and TCP).
    pub listen: SocketAddr,
    /// The cluster domain (`cluster.local`).
    pub domain: String,
    /// Resolvers for every other name.
    pub upstreams: Vec<SocketAddr>,
}

/// The `nameserver` addresses of a resolv.conf, port 53, without `exclude` (the cluster DNS
/// itself, which must not forward to itself).
pub fn upstreams_from_resolv_conf(text: &str, exclude: &[IpAddr]) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some("nameserver"))
                .then(|| words.next())
                .flatten()
                .and_then(|w| w.parse::<IpAddr>().ok())
        })
        .filter(|ip| !exclude.contains(ip))
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

/// The zone being served, swapped whole on every change; empty until the first lists are in.
#[derive(Clone, Default)]
pub struct ZoneCell(Arc<RwLock<Option<Arc<Zone>>>>);

impl ZoneCell {
    /// Serve `zone` from now on.
    pub fn set(&self, zone: Zone) {
        if let Ok(mut z) = self.0.write() {
            *z = Some(Arc::new(zone));
        }
    }

    fn get(&self) -> Option<Arc<Zone>> {
        self.0.read().ok().and_then(|z| z.clone())
    }
}

/// Serve the cluster's records from `cache` until `shutdown` resolves.
pub async fn serve(
    cache: ServiceCache,
    config: DnsConfig,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), DnsError> {
    let zone = ZoneCell::default();
    let updater = tokio::spawn(follow(cache, config.domain.clone(), zone.clone()));
    let served = serve_zone(zone, config, shutdown).await;
    updater.abort();
    served
}

/// Serve whatever `zone` holds until `shutdown` resolves.
pub async fn serve_zone(
    zone: ZoneCell,
    config: DnsConfig,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), DnsError> {
    let bind_err = |source| DnsError::Bind {
        addr: config.listen,
        source,
    };
    let udp = tokio::net::UdpSocket::bind(config.listen)
        .await
        .map_err(bind_err)?;
    let tcp = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(bind_err)?;
    let handler = Handler {
        zone,
        domain: config.domain.trim_end_matches('.').to_ascii_lowercase(),
        forwarder: forward::Forwarder::new(config.upstreams.clone()),
    };
    let mut server = hickory_server::Server::new(handler);
    server.register_socket(udp);
    server.register_listener(tcp, Duration::from_secs(10), 64);
    tracing::info!(listen = %config.listen, domain = %config.domain, "cluster DNS serving");
    shutdown.await;
    if let Err(e) = server.shutdown_gracefully().await {
        tracing::debug!(error = %e, "stopping the DNS server");
    }
    Ok(())
}

/// Rebuild the zone whenever Services or EndpointSlices change.
async fn follow(cache: ServiceCache, domain: String, zone: ZoneCell) {
    let mut changes = cache.changes();
    loop {
        if changes.changed().await.is_err() {
            return;
        }
        if *changes.borrow_and_update() == 0 {
            continue;
        }
        tokio::time::sleep(BATCH).await;
        changes.borrow_and_update();
        let services = cache.services.state();
        let slices = cache.slices.state();
        let built = Zone::build(
            &domain,
            &services.iter().map(|s| s.as_ref()).collect::<Vec<_>>(),
            &slices.iter().map(|s| s.as_ref()).collect::<Vec<_>>(),
        );
        zone.set(built);
    }
}

struct Handler {
    zone: ZoneCell,
    domain: String,
    forwarder: forward::Forwarder,
}

/// A response: its code, whether it is the cluster's own (authoritative) and its sections.
struct Answer {
    code: ResponseCode,
    authoritative: bool,
    answers: Vec<Record>,
    authorities: Vec<Record>,
    additionals: Vec<Record>,
}

impl Answer {
    fn code(code: ResponseCode) -> Answer {
        Answer {
            code,
            authoritative: false,
            answers: Vec::new(),
            authorities: Vec::new(),
            additionals: Vec::new(),
        }
    }
}

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response: R,
    ) -> ResponseInfo {
        let answer = self.answer(request).await;
        let mut metadata = Metadata::response_from_request(&request.metadata);
        metadata.response_code = answer.code;
        metadata.authoritative = answer.authoritative;
        metadata.recursion_available = true;
        let edns = request.edns.as_ref().map(|asked| {
            let mut edns = Edns::new();
            edns.set_max_payload(asked.max_payload().max(512));
            edns
        });
        let mut builder = MessageResponseBuilder::from_message_request(request);
        if let Some(edns) = &edns {
            builder.edns(edns);
        }
        let message = builder.build(
            metadata,
            answer.answers.iter(),
            answer.authorities.iter(),
            std::iter::empty(),
            answer.additionals.iter(),
        );
        match response.send_response(message).await {
            Ok(info) => info,
            Err(e) => {
                tracing::debug!(error = %e, "sending a DNS response");
                let mut metadata = Metadata::response_from_request(&request.metadata);
                metadata.response_code = ResponseCode::ServFail;
                ResponseInfo::from(hickory_server::proto::op::Header {
                    metadata,
                    counts: Default::default(),
                })
            }
        }
    }
}

impl Handler {
    async fn answer(&self, request: &Request) -> Answer {
        if request.metadata.op_code != OpCode::Query {
            return Answer::code(ResponseCode::NotImp);
        }
        let [query] = request.queries.queries() else {
            return Answer::code(ResponseCode::FormErr);
        };
        let owner: Name = query.original().name().clone();
        let name = owner.to_ascii().trim_end_matches('.').to_ascii_lowercase();
        let kind = match query.query_type() {
            RecordType::A => Kind::A,
            RecordType::AAAA => Kind::Aaaa,
            RecordType::CNAME => Kind::Cname,
            RecordType::SRV => Kind::Srv,
            RecordType::PTR => Kind::Ptr,
            RecordType::ANY => Kind::Any,
            _ => Kind::Other,
        };
        let Some(zone) = self.zone.get() else {
            // Until the first lists are in, cluster names cannot be answered yet.
            return if is_within(&name, &self.domain) {
                Answer::code(ResponseCode::ServFail)
            } else {
                self.forward(request).await
            };
        };
        let mut answer = Answer {
            authoritative: true,
            ..Answer::code(ResponseCode::NoError)
        };
        match zone.lookup(&name, kind) {
            Lookup::Elsewhere => return self.forward(request).await,
            Lookup::Records(list) => {
                for data in list {
                    answer.answers.push(record(&owner, data));
                    if let Data::Srv { target, .. } = data {
                        if let Lookup::Records(addrs) = zone.lookup(target, Kind::A) {
                            let target_name = absolute(target);
                            answer
                                .additionals
                                .extend(addrs.iter().map(|d| record(&target_name, d)));
                        }
                    }
                }
                // An ExternalName's target is resolved here, as clients expect of a
                // recursive server.
                if let [Data::Cname(target)] = list {
                    if matches!(kind, Kind::A | Kind::Aaaa) && !zone.is_ours(target) {
                        let chased = self.forwarder.resolve(target, query.query_type()).await;
                        answer.answers.extend(chased);
                    }
                }
            }
            Lookup::Pod(ip) => answer.answers.push(record(&owner, &Data::Addr(ip.into()))),
            Lookup::NoData => answer.authorities.push(soa(&zone)),
            Lookup::NxDomain => {
                answer.code = ResponseCode::NXDomain;
                answer.authorities.push(soa(&zone));
            }
        }
        answer
    }

    async fn forward(&self, request: &Request) -> Answer {
        match self.forwarder.forward(request.as_slice()).await {
            Some(reply) => Answer {
                code: reply.metadata.response_code,
                authoritative: false,
                answers: reply.answers,
                authorities: reply.authorities,
                additionals: reply
                    .additionals
                    .into_iter()
                    .filter(|r| r.record_type() != RecordType::OPT)
                    .collect(),
            },
            None => Answer::code(ResponseCode::ServFail),
        }
    }
}

fn is_within(name: &str, domain: &str) -> bool {
    name == domain
        || name
            .strip_suffix(domain)
            .is_some_and(|rest| rest.ends_with('.'))
}

/// `name.` as a DNS name; names from the zone are valid, anything else becomes the root.
fn absolute(name: &str) -> Name {
    Name::from_ascii(format!("{name}.")).unwrap_or_else(|_| Name::root())
}

fn record(owner: &Name, data: &Data) -> Record {
    let rdata = match data {
        Data::Addr(IpAddr::V4(v4)) => RData::A(A(*v4)),
        Data::Addr(IpAddr::V6(v6)) => RData::AAAA(AAAA(*v6)),
        Data::Cname(target) => RData::CNAME(CNAME(absolute(target))),
        Data::Srv {
            weight,
            port,
            target,
        } => RData::SRV(SRV::new(0, *weight, *port, absolute(target))),
        Data::Ptr(target) => RData::PTR(PTR(absolute(target))),
    };
    Record::from_rdata(owner.clone(), TTL, rdata)
}

/// The zone's SOA, sent with negative answers so resolvers cache them for the TTL.
fn soa(zone: &Zone) -> Record {
    let domain = zone.domain();
    let rdata = SOA::new(
        absolute(&format!("ns.dns.{domain}")),
        absolute(&format!("hostmaster.{domain}")),
        1,
        7200,
        1800,
        86400,
        TTL,
    );
    Record::from_rdata(absolute(domain), TTL, RData::SOA(rdata))
}
