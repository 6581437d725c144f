//! The cluster CA, created on first start with a serving certificate for the API server and
//! an admin client certificate, kept as PEM files under `<data-dir>/tls/`; the certificates it
//! issues later (nodes' client and serving certificates); and the admin kubeconfig.

use std::net::IpAddr;
use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SanType,
};

use crate::kubeconfig::{kubeconfig, Credential};
use crate::CertError;

/// PEM-encoded certificates and keys of the cluster.
#[derive(Clone)]
pub struct Pki {
    /// The cluster CA's certificate, which every server and client trusts.
    pub ca_cert: String,
    /// The API server's serving certificate, for `localhost`, the `kubernetes` Service's names
    /// and the extra hosts it was created with.
    pub server_cert: String,
    /// The private key of `server_cert`.
    pub server_key: String,
    /// The admin client certificate: user `admin` in group `system:masters`.
    pub admin_cert: String,
    /// The private key of `admin_cert`.
    pub admin_key: String,
}

const FILES: [&str; 6] = [
    "ca.crt",
    "ca.key",
    "server.crt",
    "server.key",
    "admin.crt",
    "admin.key",
];

fn read(path: &Path) -> Result<String, CertError> {
    std::fs::read_to_string(path).map_err(|source| CertError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn write(path: &Path, data: &str, private: bool) -> Result<(), CertError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let io = |source| CertError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mode = if private { 0o600 } else { 0o644 };
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(io)?;
    f.write_all(data.as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// Write a private key file (mode 0600) atomically.
pub fn write_private(path: &Path, data: &str) -> Result<(), CertError> {
    write(path, data, true)
}

/// The CA's parameters. Re-signing them with the CA key gives a certificate with the same
/// subject and key, so certificates it signs later chain to the CA written on first start.
fn ca_params() -> Result<CertificateParams, rcgen::Error> {
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.distinguished_name.push(DnType::CommonName, "berth-ca");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    Ok(ca)
}

/// A serving certificate signed by the cluster CA in `dir` (e.g. for a node agent's HTTPS
/// endpoint), valid for `hosts` (names or addresses). Returns the certificate and key as PEM.
pub fn issue_serving_cert(
    dir: &Path,
    common_name: &str,
    hosts: &[String],
) -> Result<(String, String), CertError> {
    issue(
        dir,
        common_name,
        None,
        hosts,
        ExtendedKeyUsagePurpose::ServerAuth,
    )
}

/// A client certificate signed by the cluster CA in `dir`: the API server authenticates it
/// as user `common_name` in `group` (the subject's organization), as Kubernetes does.
pub fn issue_client_cert(
    dir: &Path,
    common_name: &str,
    group: &str,
) -> Result<(String, String), CertError> {
    issue(
        dir,
        common_name,
        Some(group),
        &[],
        ExtendedKeyUsagePurpose::ClientAuth,
    )
}

fn issue(
    dir: &Path,
    common_name: &str,
    organization: Option<&str>,
    hosts: &[String],
    usage: ExtendedKeyUsagePurpose,
) -> Result<(String, String), CertError> {
    let ca_key = KeyPair::from_pem(&read(&dir.join("ca.key"))?)?;
    let ca_cert = ca_params()?.self_signed(&ca_key)?;
    let mut names = Vec::new();
    let mut ips = Vec::new();
    for h in hosts {
        match h.parse::<IpAddr>() {
            Ok(ip) => ips.push(ip),
            Err(_) => names.push(h.clone()),
        }
    }
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(names)?;
    params
        .subject_alt_names
        .extend(ips.into_iter().map(SanType::IpAddress));
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    if let Some(o) = organization {
        params.distinguished_name.push(DnType::OrganizationName, o);
    }
    params.extended_key_usages = vec![usage];
    let cert = params.signed_by(&key, &ca_cert, &ca_key)?;
    Ok((cert.pem(), key.serialize_pem()))
}

impl Pki {
    /// Load the PKI from `dir`, creating it on first start. `hosts` are extra names and
    /// addresses the serving certificate must be valid for.
    pub fn load_or_create(dir: &Path, hosts: &[String]) -> Result<Pki, CertError> {
        std::fs::create_dir_all(dir).map_err(|source| CertError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        if FILES.iter().all(|f| dir.join(f).exists()) {
            return Ok(Pki {
                ca_cert: read(&dir.join("ca.crt"))?,
                server_cert: read(&dir.join("server.crt"))?,
                server_key: read(&dir.join("server.key"))?,
                admin_cert: read(&dir.join("admin.crt"))?,
                admin_key: read(&dir.join("admin.key"))?,
            });
        }
        let ca_key = KeyPair::generate()?;
        let ca_cert = ca_params()?.self_signed(&ca_key)?;

        let mut names = vec![
            "localhost".to_string(),
            "kubernetes".into(),
            "kubernetes.default".into(),
            "kubernetes.default.svc".into(),
            "kubernetes.default.svc.cluster.local".into(),
        ];
        let mut ips: Vec<IpAddr> = vec![
            IpAddr::from([127, 0, 0, 1]),
            IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
        ];
        for h in hosts {
            match h.parse::<IpAddr>() {
                Ok(ip) if !ip.is_unspecified() => ips.push(ip),
                Ok(_) => {}
                Err(_) => names.push(h.clone()),
            }
        }
        let server_key = KeyPair::generate()?;
        let mut server = CertificateParams::new(names)?;
        server
            .subject_alt_names
            .extend(ips.into_iter().map(SanType::IpAddress));
        server
            .distinguished_name
            .push(DnType::CommonName, "berth-apiserver");
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_cert = server.signed_by(&server_key, &ca_cert, &ca_key)?;

        let admin_key = KeyPair::generate()?;
        let mut admin = CertificateParams::new(Vec::<String>::new())?;
        admin.distinguished_name.push(DnType::CommonName, "admin");
        admin
            .distinguished_name
            .push(DnType::OrganizationName, "system:masters");
        admin.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let admin_cert = admin.signed_by(&admin_key, &ca_cert, &ca_key)?;

        let pki = Pki {
            ca_cert: ca_cert.pem(),
            server_cert: server_cert.pem(),
            server_key: server_key.serialize_pem(),
            admin_cert: admin_cert.pem(),
            admin_key: admin_key.serialize_pem(),
        };
        // Keys first, certificates last: a crash in between leaves an incomplete set that is
        // simply regenerated on the next start.
        write(&dir.join("ca.key"), &ca_key.serialize_pem(), true)?;
        write(&dir.join("server.key"), &pki.server_key, true)?;
        write(&dir.join("admin.key"), &pki.admin_key, true)?;
        write(&dir.join("server.crt"), &pki.server_cert, false)?;
        write(&dir.join("admin.crt"), &pki.admin_cert, false)?;
        write(&dir.join("ca.crt"), &pki.ca_cert, false)?;
        Ok(pki)
    }

    /// An admin kubeconfig for `server` (an https URL).
    pub fn kubeconfig(&self, server: &str) -> String {
        kubeconfig(
            server,
            &self.ca_cert,
            "admin",
            &Credential::Certificate {
                cert: &self.admin_cert,
                key: &self.admin_key,
            },
        )
    }

    /// Write the admin kubeconfig for `server` to `path` (mode 0600, atomically).
    pub fn write_kubeconfig(&self, path: &Path, server: &str) -> Result<(), CertError> {
        write(path, &self.kubeconfig(server), true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_once_and_reloads_the_same_files() {
        let dir = tempfile::tempdir().unwrap();
        let a = Pki::load_or_create(dir.path(), &["10.0.0.1".into()]).unwrap();
        let b = Pki::load_or_create(dir.path(), &[]).unwrap();
        assert_eq!(a.ca_cert, b.ca_cert);
        assert_eq!(a.admin_key, b.admin_key);
        assert!(a.server_cert.starts_with("-----BEGIN CERTIFICATE-----"));
        let kc = a.kubeconfig("https://127.0.0.1:6443");
        assert!(kc.contains("server: https://127.0.0.1:6443"));
        assert!(kc.contains("client-key-data: "));
    }
}
