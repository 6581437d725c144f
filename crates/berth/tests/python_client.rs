//! End-to-end: the official Python `kubernetes` client (installed by `.ci/run`) against a real
//! `berth server`, through `tests/python/test_client.py` under pytest.

use std::process::Command;

use berth_testkit::BerthServer;

const BERTH: &str = env!("CARGO_BIN_EXE_berth");

#[test]
fn python_client_works_unchanged() {
    let have = Command::new("python3")
        .args(["-c", "import kubernetes, pytest"])
        .status()
        .is_ok_and(|s| s.success());
    if !have {
        assert!(
            !berth_testkit::required(),
            "python3 with kubernetes and pytest is required in CI"
        );
        eprintln!("python kubernetes client not installed: skipping");
        return;
    }
    let server =
        BerthServer::start(BERTH, &["--disable-controller-manager"]).expect("server starts");
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/python/test_client.py"
    );
    let out = Command::new("python3")
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", script])
        .env("BERTH_KUBECONFIG", server.kubeconfig())
        .output()
        .expect("pytest runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "pytest failed:\n{stdout}\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.log_text()
    );
}
