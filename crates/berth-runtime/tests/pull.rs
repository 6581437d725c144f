//! End to end: pull from a real registry (Debian's `docker-registry` on a loopback port, plain
//! HTTP) a busybox image pushed there with skopeo, then list, get and remove it.

use std::path::Path;

use berth_runtime::{Error, ImageStore};

fn count(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_list_remove_against_a_real_registry() {
    let Some((registry, reference, pushed)) =
        berth_testkit::registry_with_busybox("berth/busybox:1")
    else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let store = ImageStore::open(root.path()).unwrap();

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

/// Which layers a pull reported, by final status, and their byte counts.
fn layer_events(
    events: &[berth_runtime::image::PullEvent],
) -> std::collections::BTreeMap<String, Vec<berth_runtime::image::LayerStatus>> {
    use berth_runtime::image::PullEvent;
    let mut by_layer = std::collections::BTreeMap::<String, Vec<_>>::new();
    for e in events {
        if let PullEvent::Layer { digest, status } = e {
            by_layer.entry(digest.clone()).or_default().push(*status);
        }
    }
    by_layer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_reports_progress() {
    use berth_runtime::image::{LayerStatus, PullEvent};
    use std::sync::Mutex;

    let Some((_registry, reference, pushed)) =
        berth_testkit::registry_with_busybox("berth/busybox:1")
    else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let store = ImageStore::open(root.path()).unwrap();

    let events = Mutex::new(Vec::new());
    let record = |e: PullEvent| events.lock().unwrap().push(e);
    let image = store.pull_with_progress(&reference, &record).await.unwrap();
    let first = std::mem::take(&mut *events.lock().unwrap());

    // Resolved first, listing the layers; Done last.
    let PullEvent::Resolved {
        reference: r,
        digest,
        layers,
    } = &first[0]
    else {
        panic!("{:?}", first[0]);
    };
    assert_eq!((r, digest), (&reference, &pushed));
    let digests: Vec<_> = layers.iter().map(|l| l.digest.clone()).collect();
    assert_eq!(digests, image.layers);
    assert!(layers.iter().all(|l| l.size > 0), "{layers:?}");
    assert_eq!(
        first.last(),
        Some(&PullEvent::Done {
            reference: reference.clone(),
            digest: pushed.clone()
        })
    );

    let by_layer = layer_events(&first);
    assert_eq!(by_layer.keys().cloned().collect::<Vec<_>>(), {
        let mut d = digests.clone();
        d.sort();
        d
    });
    for l in layers {
        let statuses = &by_layer[&l.digest];
        let counts: Vec<u64> = statuses
            .iter()
            .filter_map(|s| match s {
                LayerStatus::Downloading { current, total } => {
                    assert_eq!(*total, l.size);
                    Some(*current)
                }
                _ => None,
            })
            .collect();
        assert_eq!(counts.first(), Some(&0), "{statuses:?}");
        assert_eq!(counts.last(), Some(&l.size), "{statuses:?}");
        assert!(counts.windows(2).all(|w| w[0] < w[1]), "{counts:?}");
        let after: Vec<_> = statuses[counts.len()..].to_vec();
        assert_eq!(
            after,
            [
                LayerStatus::Downloaded,
                LayerStatus::Unpacking,
                LayerStatus::Done
            ]
        );
    }

    // Pulling again: every layer is there already.
    store.pull_with_progress(&reference, &record).await.unwrap();
    let second = std::mem::take(&mut *events.lock().unwrap());
    let by_layer = layer_events(&second);
    assert_eq!(by_layer.len(), layers.len());
    assert!(
        by_layer
            .values()
            .all(|s| s.as_slice() == [LayerStatus::AlreadyExists]),
        "{by_layer:?}"
    );
    assert!(matches!(second.last(), Some(PullEvent::Done { .. })));
}
