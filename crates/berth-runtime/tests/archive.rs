//! End to end: images pulled from a real registry (Debian's `docker-registry` serving the
//! offline busybox test image) exported as OCI and docker archives and imported back, with
//! skopeo reading what Berth writes and Berth reading what skopeo writes; a corrupted archive,
//! tags, and pruning.

// Test helpers (outside `#[test]` functions) may panic too: a test that cannot set up fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::path::Path;

use berth_runtime::image::ArchiveFormat;
use berth_runtime::{Error, ImageStore};
use berth_testkit::archive::{
    busybox_docker_archive, skopeo_config, skopeo_copy, skopeo_raw_manifest,
};

fn count(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

fn sha256(data: &[u8]) -> String {
    let out = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(data)?;
            c.wait_with_output()
        })
        .expect("sha256sum");
    let hex = String::from_utf8_lossy(&out.stdout);
    format!("sha256:{}", hex.split_whitespace().next().unwrap())
}

/// Where the data of the archive entry `blobs/sha256/<hex>` starts.
fn entry_offset(archive: &[u8], digest: &str) -> u64 {
    let name = format!("blobs/sha256/{}", digest.trim_start_matches("sha256:"));
    let mut ar = tar::Archive::new(archive);
    for e in ar.entries().unwrap() {
        let e = e.unwrap();
        if e.path().unwrap().to_str() == Some(name.as_str()) {
            return e.raw_file_position();
        }
    }
    panic!("{name} is not in the archive");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_import_tag_prune_against_a_real_registry() {
    let Some((registry, reference, pushed)) =
        berth_testkit::registry_with_busybox("berth/busybox:1")
    else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let store = ImageStore::open(root.path()).unwrap();
    let image = store.pull(&reference).await.expect("pull");
    assert_eq!(image.digest, pushed);
    let blobs = root.path().join("images/blobs/sha256");
    let snapshots = root.path().join("images/snapshots");
    assert_eq!(count(&blobs), 3, "manifest, config and layer");
    let out = tempfile::tempdir().unwrap();

    // OCI export: skopeo reads it and finds the registry's manifest byte for byte.
    let oci = out.path().join("busybox-oci.tar");
    store
        .export_to_file(&[&reference], &oci, ArchiveFormat::Oci)
        .unwrap();
    let raw = skopeo_raw_manifest(&format!("oci-archive:{}:1", oci.display())).unwrap();
    assert_eq!(sha256(raw.as_bytes()), pushed);

    // Removed and imported back: same manifest and config digests, same rootfs.
    store.remove(&reference).unwrap();
    assert_eq!((count(&blobs), count(&snapshots)), (0, 0));
    let imported = store.import_file(&oci, None).unwrap();
    assert_eq!(imported, vec![image.clone()]);
    assert_eq!(store.get(&reference).unwrap(), Some(image.clone()));
    let dirs = store.layer_dirs(&image);
    assert!(dirs[0].join("bin/busybox").is_file());
    assert_eq!(
        std::fs::read_link(dirs[0].join("bin/sh")).unwrap(),
        Path::new("busybox")
    );

    // Docker export: skopeo reads it (copying verifies every blob and diff ID), and it
    // imports back with the same image ID (config digest) and layers.
    let docker = out.path().join("busybox-docker.tar");
    store
        .export_to_file(&[&reference], &docker, ArchiveFormat::Docker)
        .unwrap();
    let docker_spec = format!("docker-archive:{}", docker.display());
    let config: serde_json::Value =
        serde_json::from_str(&skopeo_config(&docker_spec).unwrap()).unwrap();
    assert_eq!(config["config"]["Cmd"][0], "sh");
    let copied = out.path().join("copied");
    skopeo_copy(&docker_spec, &format!("oci:{}:x", copied.display())).unwrap();
    store.remove(&reference).unwrap();
    let imported = store.import_file(&docker, None).unwrap();
    assert_eq!(imported.len(), 1);
    assert_eq!(imported[0].reference, reference);
    assert_eq!(imported[0].config_digest, image.config_digest);
    assert_eq!(imported[0].layers, image.layers);
    assert!(store.layer_dirs(&imported[0])[0]
        .join("bin/busybox")
        .is_file());

    // A docker save archive written by skopeo (uncompressed layers, `<hex>.json` config).
    let sk = out.path().join("skopeo-docker.tar");
    busybox_docker_archive(&sk, "berth/busybox:sk").unwrap();
    let from_skopeo = store.import_file(&sk, None).unwrap();
    assert_eq!(from_skopeo[0].reference, "docker.io/berth/busybox:sk");
    assert_eq!(from_skopeo[0].config_digest, image.config_digest);
    store.remove("docker.io/berth/busybox:sk").unwrap();
    // An OCI archive written by skopeo names its image by tag only: imported with a tag.
    let sk_oci = out.path().join("skopeo-oci.tar");
    skopeo_copy(
        &docker_spec,
        &format!("oci-archive:{}:v1", sk_oci.display()),
    )
    .unwrap();
    let err = store.import_file(&sk_oci, None).unwrap_err();
    assert!(err.to_string().contains("\"v1\""), "{err}");
    let from_skopeo = store.import_file(&sk_oci, Some("localhost/sk:v1")).unwrap();
    assert_eq!(from_skopeo[0].config_digest, image.config_digest);
    store.remove("localhost/sk:v1").unwrap();

    // One corrupted byte in the layer: the import fails naming the layer, records nothing.
    store.remove(&reference).unwrap();
    let mut bad = std::fs::read(&oci).unwrap();
    let at = entry_offset(&bad, &image.layers[0]) as usize + 100;
    bad[at] ^= 0x01;
    let err = store.import(&bad[..], None).unwrap_err();
    assert!(matches!(err, Error::ArchiveDigest { .. }), "{err}");
    assert!(err.to_string().contains(&image.layers[0]), "{err}");
    assert_eq!(store.list().unwrap(), vec![]);
    assert_eq!((count(&blobs), count(&snapshots)), (0, 0));

    // A tag outlives the removal of the original reference.
    store.import_file(&oci, None).unwrap();
    let copy = format!("{}/berth/copy:2", registry.addr);
    let tagged = store.tag(&reference, &copy).unwrap();
    assert_eq!(tagged.digest, image.digest);
    store.remove(&reference).unwrap();
    let tagged = store.get(&copy).unwrap().expect("the tag is still there");
    assert!(store.layer_dirs(&tagged)[0].join("bin/busybox").is_file());
    let again = out.path().join("copy.tar");
    store
        .export_to_file(&[&copy], &again, ArchiveFormat::Oci)
        .unwrap();

    // Untagged while something (a container) still uses it, the image stays on disk until
    // a prune without that hold frees it.
    let mut keep: HashSet<String> = tagged.layers.iter().cloned().collect();
    keep.insert(tagged.config_digest.clone());
    keep.insert(tagged.digest.clone());
    store.remove_except(&copy, &keep).unwrap();
    assert_eq!((count(&blobs), count(&snapshots)), (3, 1));
    assert_eq!(store.prune_except(&keep).unwrap().bytes, 0);
    let pruned = store.prune().unwrap();
    assert_eq!((pruned.blobs, pruned.snapshots), (3, 1));
    assert!(pruned.bytes > image.size, "{pruned:?}");
    assert_eq!((count(&blobs), count(&snapshots)), (0, 0));
}
