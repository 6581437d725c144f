//! End to end: registry configuration for pulls against real registries (Debian's
//! `docker-registry` on loopback ports): mirrors from `<data-dir>/registries.yaml`, htpasswd
//! authentication with credentials from `registries.yaml` or a Docker `config.json`, HTTPS
//! with a self-signed certificate and `insecure_skip_verify`, and malformed configuration.
//! No test contacts a host that is not on this machine.

// Test helpers (outside `#[test]` functions) may panic too: a test that cannot set up fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use base64::Engine;

use berth_runtime::image::registries::Registries;
use berth_runtime::{Error, ImageStore};
use berth_testkit::auth_registry::AuthRegistry;

const USER: &str = "berth";
const PASSWORD: &str = "s3cret-pass";

fn registry() -> Option<berth_testkit::Registry> {
    match berth_testkit::Registry::start() {
        Ok(r) => r,
        Err(e) => panic!("starting the registry: {e}"),
    }
}

fn auth_registry(tls: bool) -> Option<AuthRegistry> {
    match AuthRegistry::start(USER, PASSWORD, tls) {
        Ok(r) => r,
        Err(e) => panic!("starting the registry: {e}"),
    }
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirrors_serve_pulls_recorded_under_the_original_reference() {
    let Some(mirror) = registry() else {
        eprintln!("skipped: docker-registry is not installed");
        return;
    };
    let pushed = berth_testkit::push_busybox(&mirror, "berth/busybox:1").expect("push busybox");
    // Nothing listens on this port: the first mirror fails and the pull moves on to the next,
    // never reaching the registry itself (`registry.invalid` is never resolved).
    let dead = berth_testkit::free_port().unwrap();
    let root = tempfile::tempdir().unwrap();
    write(
        &root.path().join("registries.yaml"),
        &format!(
            "mirrors:\n  registry.invalid:\n    endpoint:\n      - http://127.0.0.1:{dead}\n      - http://{}\n",
            mirror.addr
        ),
    );
    let store = ImageStore::open(root.path()).unwrap();
    let image = store
        .pull("registry.invalid/berth/busybox:1")
        .await
        .expect("pull through the mirror");
    assert_eq!(image.reference, "registry.invalid/berth/busybox:1");
    assert_eq!(image.digest, pushed);
    assert_eq!(
        store.get("registry.invalid/berth/busybox:1").unwrap(),
        Some(image.clone())
    );
    assert!(store.layer_dirs(&image)[0].join("bin/busybox").is_file());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn htpasswd_registry_needs_credentials_from_config() {
    let Some(registry) = auth_registry(false) else {
        eprintln!("skipped: docker-registry is not installed");
        return;
    };
    let pushed = registry
        .push_busybox("berth/busybox:1")
        .expect("push busybox");
    let reference = format!("{}/berth/busybox:1", registry.addr);

    // No credentials: an authentication error naming the registry.
    let root = tempfile::tempdir().unwrap();
    let store = ImageStore::open(root.path())
        .unwrap()
        .with_registries(Registries::none());
    let err = store.pull(&reference).await.unwrap_err();
    match &err {
        Error::Authentication { registry: host, .. } => assert_eq!(host, &registry.addr),
        other => panic!("expected an authentication error, got {other:?}"),
    }
    let text = err.to_string();
    eprintln!("without credentials: {text}");
    assert!(
        text.contains("authentication") && text.contains(&registry.addr),
        "{text}"
    );
    assert!(store.list().unwrap().is_empty());

    // Wrong password: an authentication error saying whose credentials were rejected.
    let root = tempfile::tempdir().unwrap();
    write(
        &root.path().join("registries.yaml"),
        &format!(
            "configs:\n  \"{}\":\n    auth: {{username: {USER}, password: wrong}}\n",
            registry.addr
        ),
    );
    let err = ImageStore::open(root.path())
        .unwrap()
        .pull(&reference)
        .await
        .unwrap_err();
    eprintln!("wrong password: {err}");
    assert!(matches!(err, Error::Authentication { .. }), "{err:?}");
    assert!(err.to_string().contains("rejected"), "{err}");
    assert!(
        !err.to_string().contains("wrong"),
        "no password in errors: {err}"
    );

    // Credentials in <data-dir>/registries.yaml.
    let root = tempfile::tempdir().unwrap();
    write(
        &root.path().join("registries.yaml"),
        &format!(
            "configs:\n  \"{}\":\n    auth:\n      username: {USER}\n      password: {PASSWORD}\n",
            registry.addr
        ),
    );
    let image = ImageStore::open(root.path())
        .unwrap()
        .pull(&reference)
        .await
        .expect("pull with registries.yaml credentials");
    assert_eq!(image.digest, pushed);

    // Credentials in a Docker config.json (base64 user:password), given by path.
    let root = tempfile::tempdir().unwrap();
    let docker = root.path().join("config.json");
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    write(
        &docker,
        &format!(r#"{{"auths":{{"{}":{{"auth":"{b64}"}}}}}}"#, registry.addr),
    );
    let registries = Registries::from_files(None, Some(&docker)).unwrap();
    let image = ImageStore::open(root.path())
        .unwrap()
        .with_registries(registries)
        .pull(&reference)
        .await
        .expect("pull with config.json credentials");
    assert_eq!(image.digest, pushed);

    // Credentials from a credential helper named in credHelpers (a script speaking the
    // docker-credential-helpers protocol); credsStore's helper knows nothing here.
    let root = tempfile::tempdir().unwrap();
    let helpers = root.path().join("helpers");
    std::fs::create_dir(&helpers).unwrap();
    let helper = helpers.join("docker-credential-berthtest");
    write(
        &helper,
        &format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 2\nread server\nif [ \"$server\" = \"{addr}\" ]; then\n  echo '{{\"ServerURL\":\"{addr}\",\"Username\":\"{USER}\",\"Secret\":\"{PASSWORD}\"}}'\nelse\n  echo 'credentials not found in native keychain'; exit 1\nfi\n",
            addr = registry.addr
        ),
    );
    let empty = helpers.join("docker-credential-empty");
    write(
        &empty,
        "#!/bin/sh\necho 'credentials not found in native keychain'; exit 1\n",
    );
    for script in [&helper, &empty] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let docker = root.path().join("config.json");
    write(&docker, r#"{"credsStore":"empty"}"#);
    let registries = Registries::from_files(None, Some(&docker))
        .unwrap()
        .with_credential_helper_dirs(vec![helpers.clone()]);
    let err = ImageStore::open(root.path())
        .unwrap()
        .with_registries(registries)
        .pull(&reference)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Authentication { .. }), "{err:?}");
    write(
        &docker,
        &format!(
            r#"{{"credsStore":"empty","credHelpers":{{"{}":"berthtest"}}}}"#,
            registry.addr
        ),
    );
    let registries = Registries::from_files(None, Some(&docker))
        .unwrap()
        .with_credential_helper_dirs(vec![helpers]);
    let image = ImageStore::open(root.path())
        .unwrap()
        .with_registries(registries)
        .pull(&reference)
        .await
        .expect("pull with a credential helper");
    assert_eq!(image.digest, pushed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_registry_with_insecure_skip_verify_directly_and_as_mirror() {
    let Some(registry) = auth_registry(true) else {
        eprintln!("skipped: docker-registry or openssl is not installed");
        return;
    };
    let pushed = registry
        .push_busybox("berth/busybox:1")
        .expect("push busybox");
    let host_config = format!(
        "configs:\n  \"{}\":\n    auth: {{username: {USER}, password: {PASSWORD}}}\n    tls:\n      insecure_skip_verify: true\n",
        registry.addr
    );

    // The registry itself: its `tls` section makes a loopback registry HTTPS.
    let root = tempfile::tempdir().unwrap();
    write(&root.path().join("registries.yaml"), &host_config);
    let reference = format!("{}/berth/busybox:1", registry.addr);
    let image = ImageStore::open(root.path())
        .unwrap()
        .pull(&reference)
        .await
        .expect("pull over HTTPS with a self-signed certificate");
    assert_eq!(image.digest, pushed);

    // As an https:// mirror, whose host's configs apply.
    let root = tempfile::tempdir().unwrap();
    write(
        &root.path().join("registries.yaml"),
        &format!(
            "mirrors:\n  registry.invalid:\n    endpoint: [\"https://{}\"]\n{host_config}",
            registry.addr
        ),
    );
    let image = ImageStore::open(root.path())
        .unwrap()
        .pull("registry.invalid/berth/busybox:1")
        .await
        .expect("pull through an HTTPS mirror");
    assert_eq!(image.reference, "registry.invalid/berth/busybox:1");
    assert_eq!(image.digest, pushed);
}

#[tokio::test]
async fn malformed_registries_yaml_fails_the_pull_naming_the_file() {
    let root = tempfile::tempdir().unwrap();
    let path = root.path().join("registries.yaml");
    write(
        &path,
        "mirrors:\n  docker.io:\n    endpoint: http://x\n  - oops\n",
    );
    let err = ImageStore::open(root.path())
        .unwrap()
        .pull("registry.invalid/berth/busybox:1")
        .await
        .unwrap_err();
    eprintln!("malformed: {err}");
    assert!(matches!(err, Error::RegistriesConfig { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
}
