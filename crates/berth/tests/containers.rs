//! End-to-end: containers through the `berth` CLI on the real kernel (as root): the busybox
//! test image is built offline, pushed to Debian's docker-registry on loopback and pulled
//! once into a data directory that every test shares, as one engine would be shared.
//!
//! Every test removes the containers it creates and checks that nothing is left behind.

// Test helpers (outside `#[test]` functions) may panic too: a test that cannot set up fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

const BERTH: &str = env!("CARGO_BIN_EXE_berth");

struct Fixture {
    data: PathBuf,
    image: String,
}

/// The shared data directory with the image pulled, or `None` when the test cannot run here
/// (not root, or no registry outside CI).
fn fixture() -> Option<&'static Fixture> {
    static FIXTURE: OnceLock<Option<Fixture>> = OnceLock::new();
    FIXTURE
        .get_or_init(|| {
            if !berth_testkit::require_root("container tests") {
                return None;
            }
            let (_registry, image, _) = berth_testkit::registry_with_busybox("berth/busybox:1")?;
            let data = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("berth-containers");
            // A previous run's leftovers: only files, every test removes its containers.
            let _ = std::fs::remove_dir_all(&data);
            std::fs::create_dir_all(&data).expect("data dir");
            let out = berth(&data, &["image", "pull", &image]);
            assert!(out.status.success(), "pull: {}", text(&out.stderr));
            // The registry stops here: every test after this uses the local store only.
            Some(Fixture { data, image })
        })
        .as_ref()
}

fn berth(data: &Path, args: &[&str]) -> Output {
    berth_with_stdin(data, args, None)
}

fn berth_with_stdin(data: &Path, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let (sub, rest) = args.split_first().expect("a subcommand");
    let mut cmd = Command::new(BERTH);
    cmd.arg(sub);
    if *sub == "image" {
        cmd.arg(rest[0])
            .arg("--data-dir")
            .arg(data)
            .args(&rest[1..]);
    } else {
        cmd.arg("--data-dir").arg(data).args(rest);
    }
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("berth runs");
    if let Some(input) = stdin {
        use std::io::Write;
        let mut pipe = child.stdin.take().expect("stdin pipe");
        pipe.write_all(input).expect("write stdin");
    }
    child.wait_with_output().expect("berth finishes")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `berth run --rm IMAGE ARGS...` with extra flags before the image.
fn run(f: &Fixture, flags: &[&str], command: &[&str]) -> Output {
    let mut args = vec!["run", "--rm"];
    args.extend_from_slice(flags);
    args.push(&f.image);
    args.extend_from_slice(command);
    berth(&f.data, &args)
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Removes the named container when dropped, so a failing test leaves nothing running.
struct Cleanup<'a>(&'a Fixture, String);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let _ = berth(&self.0.data, &["rm", "-f", &self.1]);
    }
}

fn inspect(f: &Fixture, name: &str) -> serde_json::Value {
    let out = berth(&f.data, &["inspect", name]);
    let v: serde_json::Value = serde_json::from_str(&ok(&out)).expect("inspect prints JSON");
    v[0].clone()
}

fn mounts_under(dir: &Path) -> Vec<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let dir = dir.display().to_string();
    info.lines()
        .filter(|l| l.contains(&dir))
        .map(String::from)
        .collect()
}

fn cgroup_dirs(id: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for base in ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"] {
        let direct = Path::new(base).join("berth").join(id);
        if direct.exists() {
            found.push(direct);
        }
    }
    if let Ok(entries) = std::fs::read_dir("/sys/fs/cgroup") {
        for e in entries.flatten() {
            let p = e.path().join("berth").join(id);
            if p.exists() {
                found.push(p);
            }
        }
    }
    found
}

#[test]
fn run_prints_output_with_own_pid_and_hostname() {
    let Some(f) = fixture() else { return };
    let out = run(
        f,
        &["--hostname", "boxy", "-e", "GREETING=hello"],
        &[
            "sh",
            "-c",
            "echo $GREETING; echo pid=$$; hostname; cat /etc/hostname",
        ],
    );
    let stdout = ok(&out);
    assert_eq!(stdout, "hello\npid=1\nboxy\nboxy\n");

    let out = run(f, &[], &["sh", "-c", "echo out; echo err >&2; exit 3"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "out\n");
    assert!(text(&out.stderr).contains("err"));
}

#[test]
fn containers_are_isolated_from_host_processes_and_network() {
    let Some(f) = fixture() else { return };
    let out = run(f, &[], &["sh", "-c", "ls /proc | grep -c '^[0-9]'"]);
    // sh, ls and grep (and maybe a sub-shell): never the host's hundreds of processes.
    let count: usize = ok(&out).trim().parse().expect("a number");
    assert!(count <= 5, "the container sees {count} processes");
    let out = run(f, &[], &["cat", "/proc/net/dev"]);
    let devices: Vec<String> = ok(&out)
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next().map(|s| s.trim().to_string()))
        .collect();
    assert_eq!(devices, ["lo"], "the container sees host network devices");
}

#[test]
fn memory_limit_oom_kills_and_is_reported() {
    let Some(f) = fixture() else { return };
    let name = "oom-test";
    let _cleanup = Cleanup(f, name.into());
    let out = berth(
        &f.data,
        &[
            "run",
            "--name",
            name,
            "--memory",
            "32m",
            &f.image,
            "dd",
            "if=/dev/zero",
            "of=/dev/null",
            "bs=100M",
            "count=1",
        ],
    );
    assert_eq!(out.status.code(), Some(137), "{}", text(&out.stderr));
    let c = inspect(f, name);
    assert_eq!(c["exit"]["oomKilled"], true, "{c}");
    assert_eq!(c["exit"]["exitCode"], 137);
    let ps = ok(&berth(&f.data, &["ps", "-a"]));
    assert!(ps.contains("OOMKilled"), "{ps}");
}

#[test]
fn pids_limit_bites() {
    let Some(f) = fixture() else { return };
    let out = run(
        f,
        &["--pids-limit", "8"],
        &["sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 30 & done; kill $(jobs -p) 2>/dev/null; echo done"],
    );
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("fork"),
        "no fork failed under a pids limit of 8: {stderr}"
    );
}

#[test]
fn capabilities_can_be_dropped_and_seccomp_filters() {
    let Some(f) = fixture() else { return };
    ok(&run(f, &[], &["chown", "1", "/tmp"]));
    let out = run(f, &["--cap-drop", "CHOWN"], &["chown", "1", "/tmp"]);
    assert!(!out.status.success(), "chown works without CAP_CHOWN");
    assert!(
        text(&out.stderr).contains("Operation not permitted"),
        "{}",
        text(&out.stderr)
    );
    let caps = ok(&run(f, &[], &["grep", "CapEff", "/proc/self/status"]));
    // Docker's default set.
    assert!(caps.contains("00000000a80425fb"), "{caps}");

    let status = ok(&run(f, &[], &["grep", "Seccomp:", "/proc/self/status"]));
    assert!(status.contains('2'), "no seccomp filter: {status}");
    // Creating a user namespace needs no capability: only the seccomp profile stops it.
    let out = run(f, &[], &["unshare", "-U", "true"]);
    assert!(
        !out.status.success(),
        "unshare -U passed the default profile"
    );
    ok(&run(
        f,
        &["--security-opt", "seccomp=unconfined"],
        &["unshare", "-U", "true"],
    ));
}

#[test]
fn the_container_file_system_is_private_and_hardened() {
    let Some(f) = fixture() else { return };
    let out = run(
        f,
        &[],
        &["sh", "-c", "echo 1 > /proc/sys/kernel/ns_last_pid"],
    );
    assert!(
        text(&out.stderr).contains("Read-only"),
        "/proc/sys is writable: {}",
        text(&out.stderr)
    );
    if std::path::Path::new("/proc/timer_list").exists() {
        let size = ok(&run(f, &[], &["sh", "-c", "wc -c < /proc/timer_list"]));
        assert_eq!(size.trim(), "0", "/proc/timer_list is not masked");
    }
    // A private /dev: the usual devices work, the host's disks are not there.
    let devices = ok(&run(
        f,
        &[],
        &[
            "sh",
            "-c",
            "echo x > /dev/null; head -c 4 /dev/zero | wc -c; ls /dev",
        ],
    ));
    assert!(devices.starts_with("4\n"), "{devices}");
    for expected in ["null", "zero", "urandom", "tty", "pts", "shm", "ptmx"] {
        assert!(
            devices.lines().any(|l| l == expected),
            "no /dev/{expected}: {devices}"
        );
    }
    assert!(
        !devices
            .lines()
            .any(|l| l.starts_with("sd") || l.starts_with("vd")),
        "{devices}"
    );
    // A missing working directory is created, as Docker does.
    assert_eq!(
        ok(&run(f, &["-w", "/made/for/me"], &["pwd"])).trim(),
        "/made/for/me"
    );
    if !std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        // cgroup v1: the device rules let a disk node be made but not opened, and the
        // container sees its own memory cgroup, read-only.
        let out = run(
            f,
            &[],
            &["sh", "-c", "mknod /tmp/disk b 8 0 && head -c 1 /tmp/disk"],
        );
        assert!(
            text(&out.stderr).contains("Operation not permitted"),
            "a block device could be opened: {}",
            text(&out.stderr)
        );
        let limit = ok(&run(
            f,
            &["--memory", "64m"],
            &["cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes"],
        ));
        assert_eq!(limit.trim(), (64u64 << 20).to_string());
        let out = run(f, &[], &["mkdir", "/sys/fs/cgroup/memory/escape"]);
        assert!(!out.status.success(), "the cgroup tree is writable");
    }
}

#[test]
fn exec_logs_stop_and_remove_leave_nothing_behind() {
    let Some(f) = fixture() else { return };
    let name = "lifecycle-test";
    let _cleanup = Cleanup(f, name.into());
    let id = ok(&berth(
        &f.data,
        &[
            "run",
            "-d",
            "--name",
            name,
            &f.image,
            "sh",
            "-c",
            "echo one; echo two >&2; echo three; exec sleep 600",
        ],
    ))
    .trim()
    .to_string();
    assert_eq!(id.len(), 64, "{id}");
    let c = inspect(f, name);
    assert_eq!(c["state"], "Running");
    // The start time is recorded by the shim before `run -d` returns.
    let started = c["startedAt"].as_str().unwrap_or_default();
    assert!(
        started.len() > 20 && started >= c["createdAt"].as_str().unwrap_or("~"),
        "{c}"
    );
    let pid = c["pid"].as_i64().expect("a pid");
    assert!(Path::new(&format!("/proc/{pid}")).exists());

    let out = berth(&f.data, &["exec", name, "sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out.stderr));
    let out = ok(&berth(
        &f.data,
        &[
            "exec",
            "-e",
            "X=1",
            name,
            "sh",
            "-c",
            "echo $X $$; cat /proc/1/cmdline | tr '\\0' ' '",
        ],
    ));
    assert!(out.starts_with("1 "), "{out}");
    assert!(
        out.contains("sleep 600"),
        "PID 1 of the exec's namespace is not the container's: {out}"
    );
    // An exec'd process is confined like the container's own: same seccomp filter, same
    // capabilities.
    let status = ok(&berth(
        &f.data,
        &[
            "exec",
            name,
            "grep",
            "-E",
            "Seccomp:|CapEff",
            "/proc/self/status",
        ],
    ));
    assert!(
        status.contains("00000000a80425fb")
            && status
                .lines()
                .any(|l| l.starts_with("Seccomp:") && l.ends_with('2')),
        "{status}"
    );
    let out = berth(&f.data, &["exec", name, "unshare", "-U", "true"]);
    assert!(!out.status.success(), "unshare -U passed the exec's filter");
    let out = ok(&berth_with_stdin(
        &f.data,
        &["exec", "-i", name, "cat"],
        Some(b"piped\n"),
    ));
    assert_eq!(out, "piped\n");
    let out = ok(&berth(
        &f.data,
        &["exec", "-t", name, "sh", "-c", "test -t 1 && echo tty"],
    ));
    assert!(out.contains("tty"), "{out}");

    // The log is polled until all three lines are there (the shell runs asynchronously).
    let logs = berth_testkit::wait_for(Duration::from_secs(10), || {
        let out = berth(&f.data, &["logs", name]);
        let t = text(&out.stdout) + &text(&out.stderr);
        (t.matches('\n').count() >= 3).then_some(t)
    })
    .expect("three log lines");
    // stdout and stderr are separate pipes: only each stream's own order is defined.
    let lines: Vec<&str> = logs.lines().collect();
    let pos = |l: &str| lines.iter().position(|x| *x == l).expect(l);
    assert_eq!(lines.len(), 3, "{logs}");
    assert!(pos("one") < pos("three"), "{logs}");
    pos("two");
    let tail = ok(&berth(&f.data, &["logs", "--tail", "1", "-t", name]));
    let (ts, line) = tail.trim_end().split_once(' ').expect("timestamp and line");
    assert_eq!(line, *lines.last().expect("a line"));
    assert!(ts.parse::<jiff::Timestamp>().is_ok(), "{ts}");
    let log_path = c["logPath"].as_str().expect("log path");
    let raw = std::fs::read_to_string(log_path).expect("log file");
    assert!(raw.lines().any(|l| l.ends_with(" stderr F two")), "{raw}");

    let stats = ok(&berth(&f.data, &["stats", name]));
    assert!(stats.contains(name), "{stats}");

    // sleep ignores SIGTERM as PID 1, so stop has to escalate to SIGKILL after the grace.
    ok(&berth(&f.data, &["stop", "-t", "1", name]));
    let c = inspect(f, name);
    assert_eq!(c["state"], "Exited");
    assert_eq!(c["exit"]["exitCode"], 137);
    assert!(!Path::new(&format!("/proc/{pid}")).exists());
    let out = berth(&f.data, &["exec", name, "true"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("exited"),
        "{}",
        text(&out.stderr)
    );

    ok(&berth(&f.data, &["rm", name]));
    assert!(!f.data.join("containers").join(&id).exists());
    assert!(!f.data.join("runtime").join(&id).exists());
    assert_eq!(
        mounts_under(&f.data.join("containers").join(&id)),
        Vec::<String>::new()
    );
    assert_eq!(cgroup_dirs(&id), Vec::<PathBuf>::new());
    let out = berth(&f.data, &["inspect", name]);
    assert!(!out.status.success() && text(&out.stderr).contains("no such container"));
}

#[test]
fn logs_follow_until_the_container_exits() {
    let Some(f) = fixture() else { return };
    let name = "follow-test";
    let _cleanup = Cleanup(f, name.into());
    ok(&berth(
        &f.data,
        &[
            "run",
            "-d",
            "--name",
            name,
            &f.image,
            "sh",
            "-c",
            "echo first; sleep 0.5; echo second",
        ],
    ));
    // Starts while the container runs, sees the second line arrive, and returns once the
    // container has exited.
    let out = ok(&berth(&f.data, &["logs", "-f", name]));
    assert_eq!(out, "first\nsecond\n");
    assert_eq!(inspect(f, name)["state"], "Exited");
}

#[test]
fn containers_survive_the_cli_and_are_found_again() {
    let Some(f) = fixture() else { return };
    let name = "survivor-test";
    let _cleanup = Cleanup(f, name.into());
    ok(&berth(
        &f.data,
        &["run", "-d", "--name", name, &f.image, "sleep", "600"],
    ));
    // Names are unique while the container exists.
    let out = berth(
        &f.data,
        &["run", "-d", "--name", name, &f.image, "sleep", "600"],
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains(name) && text(&out.stderr).contains("in use"),
        "{}",
        text(&out.stderr)
    );
    // No berth process runs now but the shim: a new CLI finds the container by its state.
    let c = inspect(f, name);
    assert_eq!(c["state"], "Running");
    let ps = ok(&berth(&f.data, &["ps"]));
    assert!(
        ps.lines().any(|l| l.contains(name) && l.contains("Up")),
        "{ps}"
    );
    let out = berth(&f.data, &["rm", name]);
    assert!(
        !out.status.success(),
        "removing a running container needs -f"
    );
    // The image under a container's root file system can be neither removed nor pruned.
    let out = berth(&f.data, &["image", "rm", &f.image]);
    assert!(
        text(&out.stderr).contains("being used by container"),
        "{}",
        text(&out.stderr)
    );
    ok(&berth(&f.data, &["image", "prune"]));
    assert!(ok(&berth(&f.data, &["image", "ls"])).contains(&f.image));
    ok(&berth(&f.data, &["exec", name, "true"]));
    ok(&berth(&f.data, &["kill", "-s", "TERM", name]));
    ok(&berth(&f.data, &["stop", "-t", "1", name]));
    assert_eq!(inspect(f, name)["state"], "Exited");
    ok(&berth(&f.data, &["rm", name]));
    // Once removed, the name is free again.
    ok(&berth(
        &f.data,
        &["run", "--rm", "--name", name, &f.image, "true"],
    ));
}

#[test]
fn stdin_and_terminal() {
    let Some(f) = fixture() else { return };
    let out = berth_with_stdin(
        &f.data,
        &[
            "run",
            "--rm",
            "-i",
            &f.image,
            "sh",
            "-c",
            "read line; echo got:$line",
        ],
        Some(b"hello\n"),
    );
    assert_eq!(ok(&out), "got:hello\n");

    // A detached container with stdin open waits for input until someone attaches.
    let name = "attach-test";
    let _cleanup = Cleanup(f, name.into());
    ok(&berth(
        &f.data,
        &[
            "run",
            "-d",
            "-i",
            "--name",
            name,
            &f.image,
            "sh",
            "-c",
            "read line; echo attached:$line; exit 4",
        ],
    ));
    let out = berth_with_stdin(&f.data, &["attach", name], Some(b"hi\n"));
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "attached:hi\n");
    let out = berth(&f.data, &["attach", name]);
    assert!(
        text(&out.stderr).contains("only running containers"),
        "{}",
        text(&out.stderr)
    );
    let out = run(f, &["-t"], &["sh", "-c", "test -t 1 && echo tty; tty"]);
    let stdout = ok(&out);
    assert!(stdout.contains("tty"), "{stdout}");

    // `berth run -it IMAGE sh` from a real terminal: util-linux's `script` gives the CLI a
    // pseudo-terminal, types two commands and returns the shell's exit code. `timeout`
    // bounds a hang.
    let command = format!(
        "{BERTH} run --rm -it --data-dir {} {} sh",
        f.data.display(),
        f.image
    );
    let out = berth_testkit::which("script").map(|script| {
        let mut child = Command::new("timeout")
            .arg("30")
            .arg(script)
            .args(["-qec", &command, "/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("script runs");
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(b"echo hi-$((40+2))\nexit 3\n")
            .expect("type");
        child.wait_with_output().expect("script finishes")
    });
    if let Some(out) = out {
        assert_eq!(out.status.code(), Some(3), "{}", text(&out.stdout));
        assert!(text(&out.stdout).contains("hi-42"), "{}", text(&out.stdout));
    }
}

#[test]
fn bad_input_gets_clear_errors_and_leaves_nothing() {
    let Some(f) = fixture() else { return };
    let out = run(
        f,
        &[
            "--name",
            "bad-entrypoint",
            "--entrypoint",
            "/no/such/binary",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(125));
    let err = text(&out.stderr);
    assert!(err.contains("/no/such/binary"), "{err}");
    // Nothing half-created: no record, no directory (a mounted one could not be removed).
    let out = berth(&f.data, &["inspect", "bad-entrypoint"]);
    assert!(
        text(&out.stderr).contains("no such container"),
        "{}",
        text(&out.stderr)
    );

    let out = berth(
        &f.data,
        &["run", "--rm", "127.0.0.1:1/nothing:here", "true"],
    );
    assert_eq!(out.status.code(), Some(125));
    assert!(
        text(&out.stderr).contains("127.0.0.1:1/nothing:here"),
        "{}",
        text(&out.stderr)
    );

    let out = berth(&f.data, &["run", "--rm", "Not/A:Valid:Ref", "true"]);
    assert!(
        text(&out.stderr).to_lowercase().contains("reference"),
        "{}",
        text(&out.stderr)
    );

    let out = run(f, &["--memory", "lots"], &["true"]);
    assert!(
        text(&out.stderr).contains("memory"),
        "{}",
        text(&out.stderr)
    );
    let out = run(f, &["--cap-add", "NOT_A_CAP"], &["true"]);
    assert!(
        text(&out.stderr).contains("NOT_A_CAP"),
        "{}",
        text(&out.stderr)
    );
    let out = run(f, &["-v", "/no/such/dir:/x"], &["true"]);
    assert!(
        text(&out.stderr).contains("/no/such/dir"),
        "{}",
        text(&out.stderr)
    );
    let out = run(f, &["--name", "bad/name"], &["true"]);
    assert!(
        text(&out.stderr).contains("bad/name"),
        "{}",
        text(&out.stderr)
    );

    let out = berth(&f.data, &["logs", "nothing-here"]);
    assert!(text(&out.stderr).contains("no such container: nothing-here"));

    let leftovers: Vec<String> = std::fs::read_dir(f.data.join("containers"))
        .expect("containers dir")
        .flatten()
        // `.new-*` and `.del-*` are other tests' containers being created or removed.
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .filter(|e| e.path().is_dir() && !e.path().join("container.json").exists())
        .map(|e| e.path().display().to_string())
        .collect();
    assert_eq!(
        leftovers,
        Vec::<String>::new(),
        "directories without a record"
    );
}

#[test]
fn volumes_and_read_only_rootfs() {
    let Some(f) = fixture() else { return };
    let host = tempfile::tempdir().expect("tempdir");
    std::fs::write(host.path().join("in.txt"), "from host\n").expect("write");
    let vol = format!("{}:/data", host.path().display());
    let out = ok(&run(
        f,
        &["-v", &vol],
        &["sh", "-c", "cat /data/in.txt; echo back > /data/out.txt"],
    ));
    assert_eq!(out, "from host\n");
    assert_eq!(
        std::fs::read_to_string(host.path().join("out.txt")).expect("written"),
        "back\n"
    );
    let ro = format!("{}:/data:ro", host.path().display());
    let out = run(f, &["-v", &ro], &["sh", "-c", "echo x > /data/y"]);
    assert!(!out.status.success());
    let out = run(f, &["--read-only"], &["sh", "-c", "echo x > /y"]);
    assert!(
        text(&out.stderr).contains("Read-only"),
        "{}",
        text(&out.stderr)
    );
    ok(&run(
        f,
        &["-w", "/tmp", "-u", "1000:1000"],
        &["sh", "-c", "test $(pwd) = /tmp && test $(id -u) = 1000"],
    ));
}

/// Deletes the test's bridge when dropped (the library never deletes bridges: other
/// sandboxes may share them).
struct BridgeGuard(String);

impl Drop for BridgeGuard {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.0]).output();
    }
}

fn random_byte() -> u8 {
    let mut b = [0u8; 1];
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .expect("urandom");
    b[0]
}

#[test]
fn containers_in_pod_sandboxes_share_localhost_and_reach_each_other() {
    use berth_runtime::container::{ContainerConfig, Containers, SandboxRef, ShimCommand};
    use berth_runtime::sandbox::{NetworkConfig, SandboxConfig, Sandboxes};
    let Some(f) = fixture() else { return };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    // A bridge and subnet of this test's own: traffic only flows between its sandboxes.
    let bridge = format!("btc{:02x}{:02x}", random_byte(), random_byte());
    let _bridge_guard = BridgeGuard(bridge.clone());
    let subnet = format!("10.198.{}.0/24", random_byte());
    let network = NetworkConfig {
        bridge: bridge.clone(),
        subnet,
        mtu: None,
    };
    let sandboxes = Sandboxes::open(&f.data).expect("sandboxes");
    let engine = Containers::open(&f.data)
        .expect("engine")
        .with_shim(ShimCommand {
            program: PathBuf::from(BERTH),
            args: vec!["shim".into()],
        });
    let ids = [format!("pod-a-{bridge}"), format!("pod-b-{bridge}")];
    let result = rt.block_on(async {
        let a = sandboxes
            .create(&SandboxConfig {
                cgroup_parent: None,
                id: ids[0].clone(),
                hostname: "pod-a".into(),
                network: Some(network.clone()),
            })
            .await
            .expect("sandbox a");
        let b = sandboxes
            .create(&SandboxConfig {
                cgroup_parent: None,
                id: ids[1].clone(),
                hostname: "pod-b".into(),
                network: Some(network.clone()),
            })
            .await
            .expect("sandbox b");
        let container = |sandbox: &berth_runtime::sandbox::Sandbox, args: &[&str]| ContainerConfig {
            image: f.image.clone(),
            args: Some(args.iter().map(|s| s.to_string()).collect()),
            sandbox: Some(SandboxRef::from(sandbox)),
            ..Default::default()
        };
        let mut created = Vec::new();
        let outcome: Result<(String, String, String), String> = async {
            let server = engine
                .create(container(&a, &["sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www"]))
                .await
                .map_err(|e| e.to_string())?;
            created.push(server.record.id.clone());
            engine.start(&server.record.id).await.map_err(|e| e.to_string())?;
            let a_ip = a.ip.ok_or("sandbox a has no address")?.to_string();
            // busybox's wget looks up the service name through NSS, which a static binary
            // cannot load: nc speaks the HTTP request itself.
            let fetch = |host: String| {
                format!("for i in $(seq 50); do printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 1 {host} 8080 | tail -n 1 | grep . && exit 0; sleep 0.1; done; exit 1")
            };
            let mut outputs = Vec::new();
            for (sandbox, url) in [(&a, "127.0.0.1".to_string()), (&b, a_ip.clone())] {
                let client = engine
                    .create(container(sandbox, &["sh", "-c", &fetch(url)]))
                    .await
                    .map_err(|e| e.to_string())?;
                created.push(client.record.id.clone());
                engine.start(&client.record.id).await.map_err(|e| e.to_string())?;
                let exit = engine.wait(&client.record.id).await.map_err(|e| e.to_string())?;
                let mut log = Vec::new();
                engine
                    .logs(&client.record.id, &Default::default(), &mut log)
                    .await
                    .map_err(|e| e.to_string())?;
                if exit.exit_code != 0 {
                    return Err(format!("client exited {}: {}", exit.exit_code, String::from_utf8_lossy(&log)));
                }
                outputs.push(String::from_utf8_lossy(&log).into_owned());
            }
            Ok((outputs[0].clone(), outputs[1].clone(), a_ip))
        }
        .await;
        for id in &created {
            let _ = engine.delete(id, true).await;
        }
        for id in &ids {
            sandboxes.remove(id).await.expect("remove sandbox");
        }
        for id in &created {
            assert_eq!(cgroup_dirs(id), Vec::<PathBuf>::new(), "cgroup left for {id}");
        }
        outcome
    });
    let (local, remote, ip) = result.expect("pod networking");
    // The server's sandbox is named pod-a: both requests reached it, one over localhost
    // shared within the pod, one over the bridge from the other pod.
    assert_eq!(local.trim(), "pod-a");
    assert_eq!(remote.trim(), "pod-a", "from pod-b to {ip}");
    for id in &ids {
        assert_eq!(
            mounts_under(&f.data.join("sandboxes").join(id)),
            Vec::<String>::new()
        );
    }
    let veths = String::from_utf8_lossy(
        &Command::new("ip")
            .args(["-o", "link", "show", "master", &bridge])
            .output()
            .expect("ip")
            .stdout,
    )
    .into_owned();
    assert_eq!(veths.trim(), "", "veths left on the bridge");
}

/// The parent of process `pid`, from `/proc`.
fn parent_of(pid: i32) -> Option<i32> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("PPid:"))?
        .trim()
        .parse()
        .ok()
}

/// Whether `pid` still runs (a zombie does not).
fn is_running(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map(|s| {
            !s.lines()
                .any(|l| l.starts_with("State:") && l.contains('Z'))
        })
        .unwrap_or(false)
}

#[test]
fn shims_forked_by_the_launcher_outlive_it_and_a_dead_launcher_is_replaced() {
    use berth_runtime::container::{ContainerConfig, Containers, ShimCommand, State};
    let Some(f) = fixture() else { return };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let engine = Containers::open(&f.data)
        .expect("engine")
        .with_shim(ShimCommand {
            program: PathBuf::from(BERTH),
            args: vec!["shim".into()],
        })
        .with_shim_launcher();
    let config = |args: &[&str]| ContainerConfig {
        image: f.image.clone(),
        args: Some(args.iter().map(|s| s.to_string()).collect()),
        ..Default::default()
    };
    // The launcher of a created container: its init's shim's parent.
    let launcher_of = |info: &berth_runtime::container::ContainerInfo| -> Result<i32, String> {
        let init = info.pid.ok_or("a created container has an init pid")?;
        let shim = parent_of(init).ok_or("the init has a parent")?;
        parent_of(shim).ok_or_else(|| "the shim has a parent".to_string())
    };
    let mut created = Vec::new();
    let outcome: Result<i32, String> = rt.block_on(async {
        let long = engine
            .create(config(&["sleep", "600"]))
            .await
            .map_err(|e| e.to_string())?;
        created.push(long.record.id.clone());
        let first = launcher_of(&long)?;
        if first == std::process::id() as i32 {
            return Err("the shim is the engine's child: no launcher forked it".into());
        }
        let cmdline = |pid: i32| {
            let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            String::from_utf8_lossy(&raw).replace('\0', " ")
        };
        if !cmdline(first).contains("--launcher") {
            return Err(format!("the shim's parent {first} is not the launcher"));
        }
        // A forked shim shows its own command line, naming its container, as an executed one.
        let shim = long
            .pid
            .and_then(parent_of)
            .ok_or("the init has a parent")?;
        let expected = format!("shim --root {} --id {}", f.data.display(), long.record.id);
        if !cmdline(shim).contains(&expected) || cmdline(shim).contains("--launcher") {
            return Err(format!("the shim's command line is {:?}", cmdline(shim)));
        }
        engine
            .start(&long.record.id)
            .await
            .map_err(|e| e.to_string())?;
        // The engine's own child: a zombie until the engine notices, by pid only.
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(first), nix::sys::signal::SIGKILL)
            .map_err(|e| format!("killing the launcher: {e}"))?;
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while is_running(first) {
            if std::time::Instant::now() > deadline {
                return Err("the launcher did not die".into());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let info = engine.inspect(&long.record.id).map_err(|e| e.to_string())?;
        if info.state != State::Running {
            return Err(format!(
                "the container did not outlive its launcher: {}",
                info.state
            ));
        }
        // The next container gets a new launcher and behaves as any other.
        let short = engine
            .create(config(&["sh", "-c", "echo forked; exit 7"]))
            .await
            .map_err(|e| e.to_string())?;
        created.push(short.record.id.clone());
        let second = launcher_of(&short)?;
        if second == first {
            return Err("the dead launcher was used again".into());
        }
        engine
            .start(&short.record.id)
            .await
            .map_err(|e| e.to_string())?;
        let exit = engine
            .wait(&short.record.id)
            .await
            .map_err(|e| e.to_string())?;
        let mut log = Vec::new();
        engine
            .logs(&short.record.id, &Default::default(), &mut log)
            .await
            .map_err(|e| e.to_string())?;
        if (exit.exit_code, String::from_utf8_lossy(&log).trim()) != (7, "forked") {
            return Err(format!(
                "exit {} with output {:?}",
                exit.exit_code,
                String::from_utf8_lossy(&log)
            ));
        }
        // The first container's shim still serves it: stop records the signal.
        let stopped = engine
            .stop(&long.record.id, Duration::from_secs(1))
            .await
            .map_err(|e| e.to_string())?;
        if stopped.signal.is_none() {
            return Err(format!("stop recorded no signal: {stopped:?}"));
        }
        Ok(second)
    });
    rt.block_on(async {
        for id in &created {
            let _ = engine.delete(id, true).await;
        }
    });
    let second = outcome.expect("containers through the launcher");
    assert!(
        is_running(second),
        "the replacement launcher runs while the engine does"
    );
    drop(engine);
    assert!(
        !is_running(second),
        "dropping the engine stops its launcher"
    );
    for id in &created {
        assert_eq!(
            cgroup_dirs(id),
            Vec::<PathBuf>::new(),
            "cgroup left for {id}"
        );
    }
}

#[test]
fn reset_stops_everything_of_a_data_directory_and_keeps_images() {
    use berth_runtime::sandbox::{NetworkConfig, SandboxConfig, Sandboxes};
    let Some(f) = fixture() else { return };
    // A data directory of this test's own: a reset of the shared one would stop the other
    // tests' containers.
    let data = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("berth-reset");
    let _ = std::fs::remove_dir_all(&data);
    std::fs::create_dir_all(&data).expect("data dir");
    let archive = data.join("image.tar");
    ok(&berth(
        &f.data,
        &[
            "image",
            "export",
            &f.image,
            "-o",
            &archive.display().to_string(),
        ],
    ));
    ok(&berth(
        &data,
        &["image", "import", &archive.display().to_string()],
    ));

    let mut shims = Vec::new();
    for name in ["reset-a", "reset-b"] {
        let id = ok(&berth(
            &data,
            &["run", "-d", "--name", name, &f.image, "sleep", "600"],
        ));
        let status: serde_json::Value = serde_json::from_slice(
            &std::fs::read(data.join("containers").join(id.trim()).join("status.json"))
                .expect("status"),
        )
        .expect("json");
        shims.push(status["shimPid"].as_i64().expect("shim pid"));
    }
    ok(&berth(
        &data,
        &["create", "--name", "reset-c", &f.image, "true"],
    ));
    let bridge = format!("btr{:02x}{:02x}", random_byte(), random_byte());
    let _bridge_guard = BridgeGuard(bridge.clone());
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        Sandboxes::open(&data)
            .expect("sandboxes")
            .create(&SandboxConfig {
                cgroup_parent: None,
                id: "reset-pod".into(),
                hostname: "reset-pod".into(),
                network: Some(NetworkConfig {
                    bridge: bridge.clone(),
                    subnet: format!("10.197.{}.0/24", random_byte()),
                    mtu: None,
                }),
            })
            .await
            .expect("sandbox")
    });

    let out = ok(&berth(&data, &["reset"]));
    assert!(
        out.contains("removed 3 containers, 1 sandboxes, 1 bridges"),
        "{out}"
    );
    assert_eq!(ok(&berth(&data, &["ps", "-a", "-q"])), "");
    assert!(ok(&berth(&data, &["image", "ls"])).contains(&f.image));
    assert_eq!(mounts_under(&data), Vec::<String>::new());
    // A shim exits just after recording its container's exit; a zombie awaiting its reaper
    // counts as gone.
    for pid in shims {
        let gone = berth_testkit::wait_for(Duration::from_secs(5), || {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let state = stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .split_whitespace()
                .next();
            (state.is_none() || state == Some("Z")).then_some(())
        });
        assert!(gone.is_some(), "shim {pid} still runs");
    }
    let link = Command::new("ip")
        .args(["link", "show", &bridge])
        .output()
        .expect("ip");
    assert!(!link.status.success(), "bridge {bridge} is still there");
    // A second reset finds nothing to do and succeeds.
    ok(&berth(&data, &["reset"]));
    let _ = std::fs::remove_dir_all(&data);
}
