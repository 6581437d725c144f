//! The real `berth-bench` binary's command line: `--help` prints usage and an unknown
//! argument is refused, both before any benchmark starts.
//!
//! The binary runs from a directory of its own with no `berth` beside it, so a run that got
//! past its arguments would fail to find the server instead of benchmarking anything.

// Test helpers (outside `#[test]` functions) may panic too: a test that cannot set up fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// A copy of the bench binary (a hard link when the file system allows) alone in a new
/// directory; the directory goes away with the guard.
fn lone_bench() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temporary directory");
    let exe = dir.path().join("berth-bench");
    let built = env!("CARGO_BIN_EXE_berth-bench");
    if std::fs::hard_link(built, &exe).is_err() {
        std::fs::copy(built, &exe).expect("copying berth-bench");
    }
    (dir, exe)
}

/// Run the lone binary with `args`; it must be done within 20 s (a benchmark is not).
fn bench(args: &[&str]) -> Output {
    let (_dir, exe) = lone_bench();
    let started = Instant::now();
    let out = Command::new(&exe)
        .args(args)
        .output()
        .expect("berth-bench runs");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{args:?} took {:?}",
        started.elapsed()
    );
    out
}

#[test]
fn help_prints_usage_and_starts_nothing() {
    for args in [&["--help"][..], &["-h"], &["pods", "--help"]] {
        let out = bench(args);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stdout}{stderr}");
        assert!(stdout.contains("Usage: berth-bench"), "{args:?}: {stdout}");
        assert!(!stdout.contains("# berth-bench"), "{args:?}: {stdout}");
        assert!(!stderr.contains("not found"), "{args:?}: {stderr}");
    }
    let top = String::from_utf8_lossy(&bench(&["--help"]).stdout).to_string();
    for word in [
        "engine",
        "pods",
        "deployments",
        "proxy",
        "latency",
        "dns",
        "router",
        "--quick",
    ] {
        assert!(top.contains(word), "{word} missing from\n{top}");
    }
    assert!(
        !top.contains("pods-loop"),
        "internal loops are hidden:\n{top}"
    );
    let pods = String::from_utf8_lossy(&bench(&["pods", "--help"]).stdout).to_string();
    assert!(pods.contains("--latency-only"), "{pods}");
}

#[test]
fn an_unknown_argument_is_named_and_exits_2() {
    for (args, named) in [
        (&["--bogus"][..], "--bogus"),
        (&["--quick", "--frobnicate"], "--frobnicate"),
        (&["engine", "--bogus"], "--bogus"),
        (&["bogus"], "bogus"),
    ] {
        let out = bench(args);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stdout}{stderr}");
        assert!(
            stderr.contains(&format!("'{named}'")),
            "{args:?} does not name {named}: {stderr}"
        );
        assert!(stdout.is_empty(), "{args:?}: {stdout}");
    }
}
