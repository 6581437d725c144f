//! Pulling images from OCI-distribution / Docker v2 registries with `oci-client`.
//!
//! Where to pull from and how is the [`registries`](super::registries) configuration: mirrors
//! are tried in order, then the registry itself; the first endpoint that serves the manifest
//! serves the whole pull. `http://` mirrors and registries on this machine (`localhost`,
//! `127.*`, `::1`, as Docker does; unless configured with a `tls` section) are reached over
//! plain HTTP; others over HTTPS. Credentials, when configured for a host, are offered to it;
//! otherwise access is anonymous. A refusal (HTTP 401 or 403, a failed token exchange) is an
//! [`Error::Authentication`] naming the host. Image indexes and Docker manifest lists resolve
//! to the host's platform. Config and layers are downloaded into the blob store (digest
//! verified), layers unpacked, and the image recorded in the index only at the end, so an
//! interrupted pull leaves no visible image. The image manifest's exact bytes are stored as a
//! blob too, so that an export reproduces its digest.
//!
//! [`ImageStore::pull_with_progress`] reports the pull's [`progress`](super::progress) as it
//! goes; [`ImageStore::pull`] is the same without a listener.

use oci_client::client::{current_platform_resolver, ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::manifest::{
    OciDescriptor, OciImageManifest, OciManifest, IMAGE_MANIFEST_LIST_MEDIA_TYPE,
    IMAGE_MANIFEST_MEDIA_TYPE, OCI_IMAGE_INDEX_MEDIA_TYPE, OCI_IMAGE_MEDIA_TYPE,
};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

use super::error::{io, Error, Result};
use super::progress::{CountingWriter, LayerInfo, LayerStatus, Progress, PullEvent};
use super::reference::{validate_digest, ImageRef};
use super::registries::{Endpoint, Registries};
use super::store::IndexEntry;
use super::unpack::{snapshot_fs, unpack_layer};
use super::{Image, ImageStore};

/// The manifest media types a pull accepts (images and indexes, OCI and Docker schema 2).
const MANIFEST_TYPES: &[&str] = &[
    OCI_IMAGE_MEDIA_TYPE,
    OCI_IMAGE_INDEX_MEDIA_TYPE,
    IMAGE_MANIFEST_MEDIA_TYPE,
    IMAGE_MANIFEST_LIST_MEDIA_TYPE,
];

/// Parse a manifest as `oci-client` does (schema version 2 only).
fn parse_manifest(raw: &[u8]) -> Result<OciManifest, OciDistributionError> {
    let manifest: OciManifest = serde_json::from_slice(raw)
        .map_err(|e| OciDistributionError::ManifestParsingError(e.to_string()))?;
    let version = match &manifest {
        OciManifest::Image(m) => m.schema_version,
        OciManifest::ImageIndex(i) => i.schema_version,
    };
    if version != 2 {
        return Err(OciDistributionError::UnsupportedSchemaVersionError(
            version.into(),
        ));
    }
    Ok(manifest)
}

/// A registry client for one endpoint (mirror or registry).
fn client_for(endpoint: &Endpoint) -> Client {
    // reqwest is built without a default crypto provider; an error means one is installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let protocol = if endpoint.plain_http {
        ClientProtocol::HttpsExcept(vec![endpoint.host.clone()])
    } else {
        ClientProtocol::Https
    };
    Client::new(ClientConfig {
        protocol,
        // With rustls this turns off certificate and host name verification alike.
        accept_invalid_certificates: endpoint.insecure_skip_verify,
        ..ClientConfig::default()
    })
}

/// Whether the registry refused access (as opposed to a missing image or a network failure).
fn is_auth_error(e: &OciDistributionError) -> bool {
    match e {
        OciDistributionError::UnauthorizedError { .. }
        | OciDistributionError::AuthenticationFailure(_) => true,
        OciDistributionError::RegistryError { envelope, .. } => envelope
            .errors
            .iter()
            .any(|e| matches!(e.code, OciErrorCode::Unauthorized | OciErrorCode::Denied)),
        OciDistributionError::ServerError { code, .. } => *code == 401 || *code == 403,
        _ => false,
    }
}

struct Pull<'a> {
    store: &'a ImageStore,
    client: Client,
    /// The reference, pointed at the mirror when pulling through one.
    reference: Reference,
    /// The normalized reference the image is recorded under.
    name: String,
    endpoint: Endpoint,
    auth: RegistryAuth,
}

/// Report a layer's new status.
fn layer_event(progress: Progress<'_>, digest: &str, status: LayerStatus) {
    progress(PullEvent::Layer {
        digest: digest.to_string(),
        status,
    });
}

/// A descriptor's size as the manifest gives it; a negative one (invalid) counts as 0.
fn size_of(desc: &OciDescriptor) -> u64 {
    u64::try_from(desc.size).unwrap_or(0)
}

impl Pull<'_> {
    fn new<'a>(store: &'a ImageStore, r: &ImageRef, endpoint: Endpoint) -> Pull<'a> {
        let mut reference = r.to_oci();
        if endpoint.mirror {
            // Requests go to the mirror with `?ns=<registry>`, as containerd's do.
            reference.set_mirror_registry(endpoint.host.clone());
        }
        let auth = match &endpoint.credentials {
            Some(c) => RegistryAuth::Basic(c.username.clone(), c.password.clone()),
            None => RegistryAuth::Anonymous,
        };
        Pull {
            store,
            client: client_for(&endpoint),
            reference,
            name: r.to_string(),
            endpoint,
            auth,
        }
    }

    fn registry_err(&self) -> impl Fn(oci_client::errors::OciDistributionError) -> Error + '_ {
        |e| {
            if is_auth_error(&e) {
                let host = &self.endpoint.host;
                let offered = match &self.endpoint.credentials {
                    Some(c) => format!(
                        "the credentials of user {:?} from {} were rejected",
                        c.username, c.source
                    ),
                    None => format!(
                        "no credentials are configured for {host} (configs.\"{host}\".auth in \
                         registries.yaml, or auths in Docker's config.json)"
                    ),
                };
                return Error::Authentication {
                    registry: host.clone(),
                    reference: self.name.clone(),
                    reason: format!("{offered} ({e})"),
                };
            }
            Error::Registry {
                reference: self.name.clone(),
                source: Box::new(e),
            }
        }
    }

    /// The image manifest (resolving an index to the host's platform) as raw bytes, parsed,
    /// and its digest.
    async fn manifest(&self) -> Result<(Vec<u8>, OciImageManifest, String)> {
        let auth = &self.auth;
        let (raw, digest) = self
            .client
            .pull_manifest_raw(&self.reference, auth, MANIFEST_TYPES)
            .await
            .map_err(self.registry_err())?;
        let (raw, digest) = match parse_manifest(&raw).map_err(self.registry_err())? {
            OciManifest::Image(_) => (raw, digest),
            OciManifest::ImageIndex(index) => {
                let chosen = current_platform_resolver(&index.manifests).ok_or_else(|| {
                    self.registry_err()(OciDistributionError::ImageManifestNotFoundError(format!(
                        "no manifest for this platform in image index {digest}"
                    )))
                })?;
                validate_digest(&chosen)?;
                self.client
                    .pull_manifest_raw(
                        &self.reference.clone_with_digest(chosen),
                        auth,
                        MANIFEST_TYPES,
                    )
                    .await
                    .map_err(self.registry_err())?
            }
        };
        match parse_manifest(&raw).map_err(self.registry_err())? {
            OciManifest::Image(m) => Ok((raw.to_vec(), m, digest)),
            OciManifest::ImageIndex(_) => Err(self.registry_err()(
                OciDistributionError::ImageManifestNotFoundError(format!(
                    "{digest} is an image index inside an image index"
                )),
            )),
        }
    }

    /// Download a blob unless present, reporting its byte count to `progress` if given; the
    /// caller holds the digest's lock. Whether it was downloaded.
    async fn download(&self, desc: &OciDescriptor, progress: Option<Progress<'_>>) -> Result<bool> {
        if self.store.blobs.contains(&desc.digest)? {
            return Ok(false);
        }
        let tmp = self.store.blobs.temp_file()?;
        let std_file = tmp
            .reopen()
            .map_err(io(format!("opening {}", tmp.path().display())))?;
        let mut file = tokio::fs::File::from_std(std_file);
        match progress {
            Some(progress) => {
                // Counting what `pull_blob` writes keeps its digest verification.
                let mut counting =
                    CountingWriter::new(&mut file, &desc.digest, size_of(desc), progress);
                self.client
                    .pull_blob(&self.reference, desc, &mut counting)
                    .await
                    .map_err(self.registry_err())?;
                counting.finish();
            }
            None => self
                .client
                .pull_blob(&self.reference, desc, &mut file)
                .await
                .map_err(self.registry_err())?,
        }
        file.sync_all()
            .await
            .map_err(io(format!("syncing {}", tmp.path().display())))?;
        drop(file);
        let blobs = self.store.blobs.clone();
        let digest = desc.digest.clone();
        tokio::task::spawn_blocking(move || blobs.ingest(tmp, &digest))
            .await
            .map_err(|e| Error::Task(e.to_string()))??;
        Ok(true)
    }

    async fn fetch_config(&self, desc: &OciDescriptor) -> Result<serde_json::Value> {
        {
            let _lock = self.store.locks.lock(&desc.digest).await;
            self.download(desc, None).await?;
        }
        let data = self.store.blobs.read(&desc.digest)?;
        serde_json::from_slice(&data).map_err(|source| Error::Config {
            digest: desc.digest.clone(),
            source,
        })
    }

    async fn fetch_layer(&self, desc: &OciDescriptor, progress: Progress<'_>) -> Result<()> {
        let digest = desc.digest.as_str();
        let _lock = self.store.locks.lock(digest).await;
        let downloaded = self.download(desc, Some(progress)).await?;
        if downloaded {
            layer_event(progress, digest, LayerStatus::Downloaded);
        }
        if snapshot_fs(&self.store.snapshots, digest)?.is_dir() {
            let status = if downloaded {
                LayerStatus::Done
            } else {
                LayerStatus::AlreadyExists
            };
            layer_event(progress, digest, status);
            return Ok(());
        }
        layer_event(progress, digest, LayerStatus::Unpacking);
        let blob = self.store.blobs.path(digest)?;
        let snapshots = self.store.snapshots.clone();
        let owned = digest.to_string();
        tokio::task::spawn_blocking(move || unpack_layer(&blob, &owned, &snapshots))
            .await
            .map_err(|e| Error::Task(e.to_string()))??;
        layer_event(progress, digest, LayerStatus::Done);
        Ok(())
    }
}

impl ImageStore {
    /// The manifest from the first endpoint (mirrors, then the registry) that serves it, and
    /// the pull bound to that endpoint. With every endpoint failing, the registry's error.
    async fn resolve<'a>(
        &'a self,
        r: &ImageRef,
        registries: &Registries,
    ) -> Result<(Pull<'a>, Vec<u8>, OciImageManifest, String)> {
        let mut endpoints = registries.endpoints(&r.registry).into_iter().peekable();
        loop {
            // `endpoints` always ends with the registry itself, so it is never empty.
            let Some(endpoint) = endpoints.next() else {
                return Err(Error::Task(format!("no endpoint to pull {r} from")));
            };
            let host = endpoint.host.clone();
            let pull = Pull::new(self, r, endpoint);
            match pull.manifest().await {
                Ok((raw, manifest, digest)) => return Ok((pull, raw, manifest, digest)),
                Err(e) if endpoints.peek().is_some() => {
                    tracing::warn!(image = %r, endpoint = %host, error = %e, "pull from endpoint failed, trying the next");
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Pull an image by reference and record it in the store.
    ///
    /// Concurrent pulls in one process share the work: each blob is downloaded and each layer
    /// unpacked once.
    ///
    /// Mirrors, credentials and TLS settings come from the store's
    /// [`Registries`](super::Registries), or are loaded from the standard places at every
    /// pull (see [`registries`](super::registries)); a malformed file fails the pull.
    pub async fn pull(&self, reference: &str) -> Result<Image> {
        self.pull_with_progress(reference, &|_| {}).await
    }

    /// [`ImageStore::pull`], reporting its progress to `progress` (see
    /// [`PullEvent`](super::PullEvent)). The callback runs on the pull's task: it must not
    /// block.
    pub async fn pull_with_progress(
        &self,
        reference: &str,
        progress: &(dyn Fn(PullEvent) + Send + Sync),
    ) -> Result<Image> {
        let registries = self.registries()?;
        self.pull_using(reference, &registries, progress).await
    }

    /// The registry settings pulls use: the store's own, or those of the standard places.
    pub fn registries(&self) -> Result<Registries> {
        match &self.registries {
            Some(c) => Ok(c.clone()),
            None => Registries::load(&self.root),
        }
    }

    /// [`ImageStore::pull_with_progress`] with these registry settings (for example with a
    /// pod's pull secrets added, see [`Registries::with_docker_config`]).
    pub async fn pull_using(
        &self,
        reference: &str,
        registries: &Registries,
        progress: &(dyn Fn(PullEvent) + Send + Sync),
    ) -> Result<Image> {
        let r = ImageRef::parse(reference)?;
        let (pull, raw, manifest, digest) = self.resolve(&r, registries).await?;
        validate_digest(&digest)?;
        let mut digests = vec![digest.clone(), manifest.config.digest.clone()];
        digests.extend(manifest.layers.iter().map(|l| l.digest.clone()));
        for d in &digests {
            validate_digest(d)?;
        }
        let _pins = self.pins.pin(digests);
        progress(PullEvent::Resolved {
            reference: pull.name.clone(),
            digest: digest.clone(),
            layers: manifest
                .layers
                .iter()
                .map(|l| LayerInfo {
                    digest: l.digest.clone(),
                    size: size_of(l),
                })
                .collect(),
        });
        // The exact bytes, so that an export reproduces the manifest digest.
        if !self.blobs.contains(&digest)? {
            self.blobs.write(&digest, &raw)?;
        }
        let config = pull.fetch_config(&manifest.config).await?;
        futures::future::try_join_all(
            manifest
                .layers
                .iter()
                .map(|l| pull.fetch_layer(l, progress)),
        )
        .await?;
        let size = std::iter::once(&manifest.config)
            .chain(&manifest.layers)
            .map(size_of)
            .sum();
        let entry = IndexEntry {
            digest,
            config_digest: manifest.config.digest.clone(),
            layers: manifest.layers.iter().map(|l| l.digest.clone()).collect(),
            size,
            created: jiff::Timestamp::now().to_string(),
        };
        self.index.update(|i| {
            i.images.insert(pull.name.clone(), entry.clone());
            Ok(())
        })?;
        tracing::info!(image = %pull.name, digest = %entry.digest, "pulled image");
        progress(PullEvent::Done {
            reference: pull.name.clone(),
            digest: entry.digest.clone(),
        });
        Ok(Image {
            reference: pull.name,
            digest: entry.digest,
            config_digest: entry.config_digest,
            layers: entry.layers,
            size: entry.size,
            config,
        })
    }
}
