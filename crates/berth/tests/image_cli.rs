//! End-to-end: `berth image pull|ls|inspect|rm` against Debian's docker-registry serving the
//! offline busybox test image, and clear errors for bad references and unknown images.

// Test helpers (outside `#[test]` functions) may panic too: a test that cannot set up fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

const BERTH: &str = env!("CARGO_BIN_EXE_berth");

fn berth(data: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    berth_with(data, args, None)
}

/// `berth image --data-dir DATA ARGS...`, with stdin from a file when given.
fn berth_with(
    data: &std::path::Path,
    args: &[&str],
    stdin: Option<&std::path::Path>,
) -> (bool, String, String) {
    let mut cmd = Command::new(BERTH);
    cmd.args(["image", "--data-dir"]).arg(data).args(args);
    if let Some(path) = stdin {
        cmd.stdin(std::fs::File::open(path).expect("open stdin file"));
    }
    let out = cmd.output().expect("berth runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn image_pull_list_inspect_remove() {
    let Some((registry, reference, digest)) =
        berth_testkit::registry_with_busybox("berth/busybox:1")
    else {
        return;
    };
    let data = tempfile::tempdir().expect("tempdir");

    let (ok, out, err) = berth(data.path(), &["pull", &reference]);
    assert!(ok, "pull failed: {err}");
    assert!(out.contains(&digest), "{out}");
    // Not a terminal: plain progress lines on stderr, one per layer state, no byte counts;
    // the result alone on stdout.
    assert_eq!(out.trim(), format!("{reference}: pulled {digest}"));
    for state in [
        "Pulling fs layer",
        "Downloading",
        "Download complete",
        "Pull complete",
    ] {
        assert_eq!(err.matches(state).count(), 1, "{state}: {err}");
    }
    assert!(err.lines().count() <= 6, "{err}");
    assert!(!err.contains('\r') && !err.contains("MB"), "{err}");
    // Again: the layer is there already.
    let (ok, out, err) = berth(data.path(), &["pull", &reference]);
    assert!(ok, "second pull failed: {err}");
    assert!(out.contains(&digest), "{out}");
    assert!(
        err.contains("Already exists") && !err.contains("Download"),
        "{err}"
    );
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

#[test]
fn image_export_import_tag_prune() {
    let Some((_registry, reference, digest)) =
        berth_testkit::registry_with_busybox("berth/busybox:1")
    else {
        return;
    };
    let data = tempfile::tempdir().expect("tempdir");
    let files = tempfile::tempdir().expect("tempdir");
    let (ok, _, err) = berth(data.path(), &["pull", &reference]);
    assert!(ok, "pull failed: {err}");
    let inspect = |r: &str| -> serde_json::Value {
        let (ok, out, err) = berth(data.path(), &["inspect", r]);
        assert!(ok, "inspect {r}: {err}");
        serde_json::from_str(&out).expect("inspect prints JSON")
    };
    let config_digest = inspect(&reference)["config_digest"].clone();

    // OCI export to a file, removal, import: the same manifest digest.
    let oci = files.path().join("busybox.tar");
    let oci_arg = oci.to_str().unwrap();
    let (ok, out, err) = berth(data.path(), &["export", &reference, "-o", oci_arg]);
    assert!(ok, "export failed: {err}");
    assert!(out.contains(oci_arg), "{out}");
    let (ok, _, err) = berth(data.path(), &["rm", &reference]);
    assert!(ok, "{err}");
    let (ok, out, err) = berth(data.path(), &["import", oci_arg]);
    assert!(ok, "import failed: {err}");
    assert!(out.contains(&reference) && out.contains(&digest), "{out}");
    assert_eq!(inspect(&reference)["digest"], digest.as_str());

    // Docker format to standard output, imported from standard input under a new tag.
    let docker = files.path().join("busybox-docker.tar");
    let out = Command::new(BERTH)
        .args(["image", "--data-dir"])
        .arg(data.path())
        .args(["export", &reference, "--format", "docker", "-o", "-"])
        .stdout(std::fs::File::create(&docker).expect("create"))
        .output()
        .expect("berth runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (ok, out, err) = berth_with(
        data.path(),
        &["import", "-", "--tag", "loaded:1"],
        Some(&docker),
    );
    assert!(ok, "import from stdin failed: {err}");
    assert!(out.contains("docker.io/library/loaded:1"), "{out}");
    assert_eq!(inspect("loaded:1")["config_digest"], config_digest);

    // Tag, then remove both other names: the tag keeps the image.
    let (ok, out, err) = berth(data.path(), &["tag", &reference, "example.com/copy:2"]);
    assert!(ok, "tag failed: {err}");
    assert!(out.contains("example.com/copy:2"), "{out}");
    let (ok, _, err) = berth(data.path(), &["rm", &reference, "loaded:1"]);
    assert!(ok, "{err}");
    assert_eq!(inspect("example.com/copy:2")["digest"], digest.as_str());
    // A download a crashed process left behind, two minutes old.
    let stale = data.path().join("images/tmp/.blob-crashed");
    std::fs::write(&stale, vec![0u8; 1500]).expect("write");
    let two_minutes_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(120);
    std::fs::File::options()
        .write(true)
        .open(&stale)
        .and_then(|f| f.set_modified(two_minutes_ago))
        .expect("age the temp file");
    let (ok, out, err) = berth(data.path(), &["prune"]);
    assert!(ok, "prune failed: {err}");
    assert!(out.contains("Total reclaimed space: 1.5kB"), "{out}");
    assert!(!stale.exists());
    assert_eq!(inspect("example.com/copy:2")["digest"], digest.as_str());
    let (ok, _, err) = berth(data.path(), &["rm", "example.com/copy:2"]);
    assert!(ok, "{err}");

    // Clear failures, with a non-zero exit.
    let missing = files.path().join("missing.tar");
    let (ok, _, err) = berth(data.path(), &["import", missing.to_str().unwrap()]);
    assert!(!ok && err.contains("missing.tar"), "{err}");
    let garbage = files.path().join("garbage.tar");
    std::fs::write(&garbage, b"garbage").expect("write");
    let (ok, _, err) = berth(data.path(), &["import", garbage.to_str().unwrap()]);
    assert!(!ok && err.contains("image archive"), "{err}");
    let mut corrupt = std::fs::read(&oci).expect("read");
    let n = corrupt.len();
    corrupt[n - 1024 - 600] ^= 1; // in the last blob (the layer), past any padding
    std::fs::write(&garbage, &corrupt).expect("write");
    let (ok, _, err) = berth(data.path(), &["import", garbage.to_str().unwrap()]);
    assert!(
        !ok && err.contains("corrupt") && err.contains("sha256:"),
        "{err}"
    );
    let (ok, _, err) = berth(data.path(), &["export", "nothing:here", "-o", oci_arg]);
    assert!(!ok && err.contains("nothing"), "{err}");
    assert!(oci.is_file(), "a failed export leaves the old file alone");
    let (ok, _, err) = berth(data.path(), &["tag", "nothing:here", "x:1"]);
    assert!(!ok && err.contains("nothing"), "{err}");
    let (_, out, _) = berth(data.path(), &["ls"]);
    assert_eq!(out.lines().count(), 1, "only the header is left: {out}");
}
