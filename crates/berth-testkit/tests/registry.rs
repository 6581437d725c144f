//! The offline test image is reproducible and survives a push to a real registry unchanged.

use std::process::Command;

#[test]
fn busybox_image_is_reproducible_and_pushes_with_its_digest() {
    let registry = match berth_testkit::Registry::start() {
        Ok(Some(r)) => r,
        Ok(None) => return,
        Err(e) => panic!("{e}"),
    };
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let first = berth_testkit::build_busybox_oci(a.path(), "1").unwrap();
    let second = berth_testkit::build_busybox_oci(b.path(), "1").unwrap();
    assert_eq!(first, second, "the same inputs give the same digest");
    let pushed = berth_testkit::push_busybox(&registry, "berth/busybox:1").unwrap();
    assert_eq!(pushed, first);
    let out = Command::new("curl")
        .args([
            "-sSI",
            "-H",
            "Accept: application/vnd.oci.image.manifest.v1+json",
        ])
        .arg(format!(
            "http://{}/v2/berth/busybox/manifests/1",
            registry.addr
        ))
        .output()
        .unwrap();
    let headers = String::from_utf8_lossy(&out.stdout).to_ascii_lowercase();
    assert!(
        headers.contains(&format!("docker-content-digest: {first}")),
        "{headers}"
    );
}
