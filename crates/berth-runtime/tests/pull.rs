//! End to end: pull from a real registry (Debian's `docker-registry` on a loopback port, plain
//! HTTP) a busybox image pushed there with skopeo, then list, get and remove it.

use std::path::Path;

use berth_runtime::{Error, ImageStore};

fn count(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_list_remove_against_a_real_registry() {
    let registry = match berth_testkit::Registry::start() {
        Ok(Some(r)) => r,
        Ok(None) => {
            eprintln!("skipped: docker-registry is not installed");
            return;
        }
        Err(e) => panic!("starting the registry: {e}"),
    };
    let pushed = berth_testkit::push_busybox(&registry, "berth/busybox:1").expect("push busybox");
    let root = tempfile::tempdir().unwrap();
    let store = ImageStore::open(root.path()).unwrap();
    let reference = format!("{}/berth/busybox:1", registry.addr);

    // Two concurrent pulls of the same image both succeed and agree.
    let (a, b) = tokio::join!(store.pull(&reference), store.pull(&reference));
    let image = a.expect("first pull");
    assert_eq!(b.expect("second pull"), image);
    assert_eq!(image.reference, reference);
    assert_eq!(image.digest, pushed);
    assert_eq!(image.layers.len(), 1);
    assert_eq!(image.config["os"], "linux");
    assert!(image.size > 0);

    let listed = store.list().unwrap();
    assert_eq!(listed, vec![image.clone()]);
    assert_eq!(store.get(&reference).unwrap(), Some(image.clone()));
    // The index survives reopening the store.
    let reopened = ImageStore::open(root.path()).unwrap();
    assert_eq!(reopened.get(&reference).unwrap(), Some(image.clone()));

    let dirs = store.layer_dirs(&image);
    assert_eq!(dirs.len(), 1);
    assert!(
        dirs[0].join("bin/busybox").is_file(),
        "{}",
        dirs[0].display()
    );
    assert_eq!(
        std::fs::read_link(dirs[0].join("bin/sh")).unwrap(),
        Path::new("busybox")
    );
    let blobs = root.path().join("images/blobs/sha256");
    let snapshots = root.path().join("images/snapshots");
    assert_eq!(count(&blobs), 3, "manifest, config and layer");
    assert_eq!(count(&snapshots), 1);

    // Pulling again is a no-op returning the same image.
    assert_eq!(store.pull(&reference).await.unwrap(), image);

    // An unknown tag fails clearly and records nothing.
    let missing = format!("{}/berth/busybox:nope", registry.addr);
    let err = store.pull(&missing).await.unwrap_err();
    assert!(matches!(err, Error::Registry { .. }), "{err}");
    assert!(err.to_string().contains("berth/busybox:nope"), "{err}");
    assert_eq!(store.get(&missing).unwrap(), None);
    assert_eq!(store.list().unwrap().len(), 1);

    // Removing the only image deletes its blobs and snapshots.
    store.remove(&reference).unwrap();
    assert_eq!(store.list().unwrap(), vec![]);
    assert_eq!(store.get(&reference).unwrap(), None);
    assert_eq!(count(&blobs), 0);
    assert_eq!(count(&snapshots), 0);
    assert!(!dirs[0].exists());
    assert!(matches!(store.remove(&reference), Err(Error::NotFound(_))));
}
