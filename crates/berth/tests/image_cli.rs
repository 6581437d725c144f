//! End-to-end: `berth image pull|ls|inspect|rm` against Debian's docker-registry serving the
//! offline busybox test image, and clear errors for bad references and unknown images.

use std::process::Command;

const BERTH: &str = env!("CARGO_BIN_EXE_berth");

fn berth(data: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BERTH)
        .args(["image", "--data-dir"])
        .arg(data)
        .args(args)
        .output()
        .expect("berth runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn image_pull_list_inspect_remove() {
    let registry = match berth_testkit::Registry::start() {
        Ok(Some(r)) => r,
        Ok(None) => return,
        Err(e) => panic!("{e}"),
    };
    let digest = berth_testkit::push_busybox(&registry, "berth/busybox:1").expect("push");
    let data = tempfile::tempdir().expect("tempdir");
    let reference = format!("{}/berth/busybox:1", registry.addr);

    let (ok, out, err) = berth(data.path(), &["pull", &reference]);
    assert!(ok, "pull failed: {err}");
    assert!(out.contains(&digest), "{out}");
    let (ok, out, _) = berth(data.path(), &["ls"]);
    assert!(ok && out.contains(&reference), "{out}");
    let (ok, out, _) = berth(data.path(), &["inspect", &reference]);
    assert!(ok, "{out}");
    let image: serde_json::Value = serde_json::from_str(&out).expect("inspect prints JSON");
    assert_eq!(image["digest"], digest.as_str());
    assert_eq!(image["config"]["config"]["Cmd"][0], "sh");

    let (ok, _, err) = berth(
        data.path(),
        &["pull", &format!("{}/berth/busybox:missing", registry.addr)],
    );
    assert!(!ok && err.contains("busybox:missing"), "{err}");
    let (ok, _, err) = berth(data.path(), &["pull", "Not/A:Valid:Reference"]);
    assert!(
        !ok && err.to_ascii_lowercase().contains("reference"),
        "{err}"
    );
    let (ok, _, err) = berth(data.path(), &["inspect", "nothing:here"]);
    assert!(!ok && err.contains("no such image"), "{err}");

    let (ok, out, err) = berth(data.path(), &["rm", &reference]);
    assert!(ok, "rm failed: {err}");
    assert!(out.contains("Untagged"), "{out}");
    let (_, out, _) = berth(data.path(), &["ls"]);
    assert!(!out.contains(&reference), "{out}");
    let blobs = data.path().join("images/blobs/sha256");
    let left = std::fs::read_dir(&blobs).map(|d| d.count()).unwrap_or(0);
    assert_eq!(left, 0, "removing the only image deletes its blobs");
}
