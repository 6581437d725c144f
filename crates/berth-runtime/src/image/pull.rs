//! Pulling images from OCI-distribution / Docker v2 registries with `oci-client`.
//!
//! Registries on this machine (`localhost`, `127.*`, `::1`) are reached over plain HTTP, as
//! Docker does; others over HTTPS. Access is anonymous. Image indexes and Docker manifest lists
//! resolve to the host's platform. Config and layers are downloaded into the blob store (digest
//! verified), layers unpacked, and the image recorded in the index only at the end, so an
//! interrupted pull leaves no visible image. The image manifest's exact bytes are stored as a
//! blob too, so that an export reproduces its digest.

use oci_client::client::{current_platform_resolver, ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::manifest::{
    OciDescriptor, OciImageManifest, OciManifest, IMAGE_MANIFEST_LIST_MEDIA_TYPE,
    IMAGE_MANIFEST_MEDIA_TYPE, OCI_IMAGE_INDEX_MEDIA_TYPE, OCI_IMAGE_MEDIA_TYPE,
};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

use super::error::{io, Error, Result};
use super::reference::{validate_digest, ImageRef};
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

/// A registry client for the registry of `r`.
fn client_for(r: &ImageRef) -> Client {
    // reqwest is built without a default crypto provider; an error means one is installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let protocol = if r.is_local_registry() {
        ClientProtocol::HttpsExcept(vec![r.registry.clone()])
    } else {
        ClientProtocol::Https
    };
    Client::new(ClientConfig {
        protocol,
        ..ClientConfig::default()
    })
}

struct Pull<'a> {
    store: &'a ImageStore,
    client: Client,
    reference: Reference,
    name: String,
}

impl Pull<'_> {
    fn registry_err(&self) -> impl Fn(oci_client::errors::OciDistributionError) -> Error + '_ {
        |e| Error::Registry {
            reference: self.name.clone(),
            source: Box::new(e),
        }
    }

    /// The image manifest (resolving an index to the host's platform) as raw bytes, parsed,
    /// and its digest.
    async fn manifest(&self) -> Result<(Vec<u8>, OciImageManifest, String)> {
        let auth = RegistryAuth::Anonymous;
        let (raw, digest) = self
            .client
            .pull_manifest_raw(&self.reference, &auth, MANIFEST_TYPES)
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
                        &auth,
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

    /// Download a blob unless present; the caller holds the digest's lock.
    async fn download(&self, desc: &OciDescriptor) -> Result<()> {
        if self.store.blobs.contains(&desc.digest)? {
            return Ok(());
        }
        let tmp = self.store.blobs.temp_file()?;
        let std_file = tmp
            .reopen()
            .map_err(io(format!("opening {}", tmp.path().display())))?;
        let mut file = tokio::fs::File::from_std(std_file);
        self.client
            .pull_blob(&self.reference, desc, &mut file)
            .await
            .map_err(self.registry_err())?;
        file.sync_all()
            .await
            .map_err(io(format!("syncing {}", tmp.path().display())))?;
        drop(file);
        let blobs = self.store.blobs.clone();
        let digest = desc.digest.clone();
        tokio::task::spawn_blocking(move || blobs.ingest(tmp, &digest))
            .await
            .map_err(|e| Error::Task(e.to_string()))??;
        Ok(())
    }

    async fn fetch_config(&self, desc: &OciDescriptor) -> Result<serde_json::Value> {
        {
            let _lock = self.store.locks.lock(&desc.digest).await;
            self.download(desc).await?;
        }
        let data = self.store.blobs.read(&desc.digest)?;
        serde_json::from_slice(&data).map_err(|source| Error::Config {
            digest: desc.digest.clone(),
            source,
        })
    }

    async fn fetch_layer(&self, desc: &OciDescriptor) -> Result<()> {
        let _lock = self.store.locks.lock(&desc.digest).await;
        self.download(desc).await?;
        if snapshot_fs(&self.store.snapshots, &desc.digest)?.is_dir() {
            return Ok(());
        }
        let blob = self.store.blobs.path(&desc.digest)?;
        let snapshots = self.store.snapshots.clone();
        let digest = desc.digest.clone();
        tokio::task::spawn_blocking(move || unpack_layer(&blob, &digest, &snapshots))
            .await
            .map_err(|e| Error::Task(e.to_string()))??;
        Ok(())
    }
}

impl ImageStore {
    /// Pull an image by reference and record it in the store.
    ///
    /// Concurrent pulls in one process share the work: each blob is downloaded and each layer
    /// unpacked once.
    pub async fn pull(&self, reference: &str) -> Result<Image> {
        let r = ImageRef::parse(reference)?;
        let pull = Pull {
            store: self,
            client: client_for(&r),
            reference: r.to_oci(),
            name: r.to_string(),
        };
        let (raw, manifest, digest) = pull.manifest().await?;
        validate_digest(&digest)?;
        let mut digests = vec![digest.clone(), manifest.config.digest.clone()];
        digests.extend(manifest.layers.iter().map(|l| l.digest.clone()));
        for d in &digests {
            validate_digest(d)?;
        }
        let _pins = self.pins.pin(digests);
        // The exact bytes, so that an export reproduces the manifest digest.
        if !self.blobs.contains(&digest)? {
            self.blobs.write(&digest, &raw)?;
        }
        let config = pull.fetch_config(&manifest.config).await?;
        futures::future::try_join_all(manifest.layers.iter().map(|l| pull.fetch_layer(l))).await?;
        let size = std::iter::once(&manifest.config)
            .chain(&manifest.layers)
            .map(|d| u64::try_from(d.size).unwrap_or(0))
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
