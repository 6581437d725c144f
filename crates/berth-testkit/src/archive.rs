//! Image archives written by another tool (skopeo), to check that Berth reads what others
//! write and that others read what Berth writes.

use std::path::Path;
use std::process::Command;

use super::{build_busybox_oci, run_ok};

/// Build the busybox test image and write it with skopeo as a `docker save` archive
/// (`docker-archive:`, uncompressed layers, config as `<hex>.json`) named `name`
/// (`repo:tag`). Returns the image's manifest digest in the OCI layout it was made from.
pub fn busybox_docker_archive(out: &Path, name: &str) -> Result<String, String> {
    let layout = tempfile::tempdir().map_err(|e| e.to_string())?;
    let digest = build_busybox_oci(layout.path(), "src")?;
    run_ok(
        Command::new("skopeo")
            .args(["--insecure-policy", "copy", "-q"])
            .arg(format!("oci:{}:src", layout.path().display()))
            .arg(format!("docker-archive:{}:{name}", out.display())),
    )?;
    Ok(digest)
}

/// `skopeo inspect --raw` of an image (`oci-archive:FILE:TAG`, `docker-archive:FILE`):
/// the raw manifest, proving skopeo can read it.
pub fn skopeo_raw_manifest(image: &str) -> Result<String, String> {
    run_ok(Command::new("skopeo").args(["inspect", "--raw", image]))
}

/// `skopeo inspect --config` of an image: its config as skopeo reads it.
pub fn skopeo_config(image: &str) -> Result<String, String> {
    run_ok(Command::new("skopeo").args(["inspect", "--config", image]))
}

/// Copy an image between two skopeo transports (e.g. an archive Berth wrote into an `oci:`
/// layout directory), verifying every blob on the way.
pub fn skopeo_copy(from: &str, to: &str) -> Result<(), String> {
    run_ok(Command::new("skopeo").args(["--insecure-policy", "copy", "-q", from, to])).map(drop)
}
