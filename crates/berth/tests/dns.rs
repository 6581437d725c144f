//! End-to-end cluster DNS (#6) through real pods and busybox's `nslookup`: the `kube-dns`
//! Service at 10.43.0.10 with the node's endpoint, pods' resolv.conf (ClusterFirst search
//! path and ndots), Service A records by full and short name, headless Services to ready pod
//! IPs following a scale-down, SRV for named ports, pod records, PTR, NXDOMAIN, forwarding
//! of other names to the node's resolver (Debian's dnsmasq inside the test's network
//! namespace), and malformed queries that leave the server answering.

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::Duration;

use berth_testkit::{busybox_archive, wait_for, BerthServer, ChildGuard};
use serde_json::Value;

const BERTH: &str = env!("CARGO_BIN_EXE_berth");
const IMAGE: &str = "busybox:dns-test";

const MANIFEST: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: httpd
        image: busybox:dns-test
        imagePullPolicy: IfNotPresent
        command: ["sh", "-c", "trap 'exit 0' TERM; httpd -f -p 8080 & wait"]
        ports:
        - {name: http, containerPort: 8080}
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: http}
---
apiVersion: v1
kind: Service
metadata:
  name: peers
spec:
  clusterIP: None
  selector: {app: web}
  ports:
  - {name: http, port: 8080}
---
apiVersion: v1
kind: Pod
metadata:
  name: client
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox:dns-test
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
"#;

/// `nslookup ARGS` in the client pod: whether it succeeded and what it printed.
fn nslookup(server: &BerthServer, args: &str) -> (bool, String) {
    let out = server.kubectl(&[
        "exec",
        "client",
        "--",
        "sh",
        "-c",
        &format!("nslookup {args} 2>&1"),
    ]);
    (out.ok, out.stdout)
}

/// The addresses an nslookup answer lists for the looked-up name (after the server's own).
fn addresses(output: &str) -> BTreeSet<String> {
    output
        .split("\n\n")
        .skip(1)
        .flat_map(|block| block.lines())
        .filter_map(|l| l.strip_prefix("Address:"))
        .map(|a| a.trim().to_string())
        .collect()
}

fn json(server: &BerthServer, args: &[&str]) -> Value {
    let v = try_json(server, args);
    assert!(!v.is_null(), "{args:?}: no object");
    v
}

/// Like [`json`], `Null` when kubectl fails (not there yet).
fn try_json(server: &BerthServer, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["-o", "json"]);
    let out = server.kubectl(&all);
    serde_json::from_str(&out.stdout).unwrap_or(Value::Null)
}

fn ready_pod_ips(server: &BerthServer) -> BTreeSet<String> {
    json(server, &["get", "pods", "-l", "app=web"])["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .filter(|p| {
            p["status"]["conditions"].as_array().is_some_and(|c| {
                c.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            })
        })
        .filter_map(|p| p["status"]["podIP"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn cluster_dns_answers_services_pods_and_forwards_the_rest() {
    if !berth_testkit::require_root("cluster_dns_answers_services_pods_and_forwards_the_rest") {
        return;
    }
    let archive = busybox_archive().expect("building the busybox image");
    let dir = tempfile::tempdir().expect("tempdir");
    let resolv = dir.path().join("resolv.conf");
    std::fs::write(&resolv, "nameserver 127.0.0.53\nsearch example.test\n").expect("resolv.conf");
    let server = BerthServer::start_node(
        BERTH,
        &[
            "--node-name",
            "dns-node",
            "--resolv-conf",
            &resolv.to_string_lossy(),
        ],
    )
    .expect("server starts");
    // The node's upstream resolver, inside the test's namespace only.
    let _upstream = ChildGuard(
        server
            .command("dnsmasq")
            .args([
                "--keep-in-foreground",
                "--conf-file=/dev/null",
                "--no-resolv",
                "--no-hosts",
                "--bind-interfaces",
                "--listen-address=127.0.0.53",
                "--port=53",
                "--address=/outside.test/192.0.2.7",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting dnsmasq"),
    );
    let import = server.berth(&[
        "image",
        "import",
        &archive.to_string_lossy(),
        "--tag",
        IMAGE,
    ]);
    assert!(import.ok, "{}", import.stderr);

    // The kube-dns Service and this node's endpoint of it.
    let dns_svc = json(&server, &["get", "svc", "-n", "kube-system", "kube-dns"]);
    assert_eq!(dns_svc["spec"]["clusterIP"], "10.43.0.10", "{dns_svc}");
    let endpoint = wait_for(Duration::from_secs(15), || {
        let slice = try_json(
            &server,
            &[
                "get",
                "endpointslices",
                "-n",
                "kube-system",
                "kube-dns-dns-node",
            ],
        );
        slice["endpoints"][0]["addresses"][0]
            .as_str()
            .map(str::to_string)
    });
    assert_eq!(endpoint.as_deref(), Some("10.42.0.1"));

    let out = server.kubectl_with("kubectl", &["apply", "-f", "-"], Some(MANIFEST));
    assert!(out.ok, "{}", out.stderr);
    let running = wait_for(Duration::from_secs(60), || {
        let pod = json(&server, &["get", "pod", "client"]);
        (pod["status"]["phase"] == "Running").then_some(())
    });
    assert!(running.is_some(), "the client pod runs");

    let resolv_conf = server.kubectl(&["exec", "client", "--", "cat", "/etc/resolv.conf"]);
    assert!(resolv_conf.ok, "{}", resolv_conf.stderr);
    assert_eq!(
        resolv_conf.stdout,
        "nameserver 10.43.0.10\nsearch default.svc.cluster.local svc.cluster.local cluster.local example.test\noptions ndots:5\n"
    );

    let web_ip = json(&server, &["get", "svc", "web"])["spec"]["clusterIP"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    // By full name, then by the short name through the search path (busybox tries every
    // search domain and reports the ones that fail too, so only the answer counts; it
    // searches only for names without a dot, unlike glibc's ndots rule).
    for name in ["web.default.svc.cluster.local", "web"] {
        let found = wait_for(Duration::from_secs(10), || {
            let (_, out) = nslookup(&server, name);
            let answer = out.split("Name:\tweb.default.svc.cluster.local\n").nth(1);
            answer
                .is_some_and(|a| a.starts_with(&format!("Address: {web_ip}\n")))
                .then_some(out)
        });
        assert!(found.is_some(), "{name}: {:?}", nslookup(&server, name));
    }

    // Headless: the ready pods' addresses, following the Deployment.
    let both = wait_for(Duration::from_secs(60), || {
        let ips = ready_pod_ips(&server);
        (ips.len() == 2).then_some(ips)
    })
    .expect("two web pods ready");
    let answered = wait_for(Duration::from_secs(10), || {
        let (_, out) = nslookup(&server, "peers.default.svc.cluster.local");
        (addresses(&out) == both).then_some(())
    });
    assert!(
        answered.is_some(),
        "{both:?}: {:?}",
        nslookup(&server, "peers.default.svc.cluster.local")
    );

    // SRV for the named port, to the Service's name.
    let (ok, srv) = nslookup(
        &server,
        "-type=srv _http._tcp.web.default.svc.cluster.local",
    );
    assert!(
        ok && srv.contains("web.default.svc.cluster.local") && srv.contains(" 80 "),
        "{srv}"
    );

    // A pod's own record and the reverse of the Service address.
    let pod_ip = both.iter().next().expect("a pod ip").clone();
    let (ok, out) = nslookup(
        &server,
        &format!("{}.default.pod.cluster.local", pod_ip.replace('.', "-")),
    );
    assert!(ok && addresses(&out).contains(&pod_ip), "{out}");
    let (ok, out) = nslookup(&server, &format!("-type=ptr {}", reverse(&web_ip)));
    assert!(ok && out.contains("web.default.svc.cluster.local"), "{out}");

    // Missing names are NXDOMAIN; other names go to the node's resolver.
    let (ok, out) = nslookup(&server, "missing.default.svc.cluster.local");
    assert!(!ok && out.contains("NXDOMAIN"), "{out}");
    // (dnsmasq refuses the AAAA half of busybox's lookup: only the A answer counts.)
    let (_, out) = nslookup(&server, "outside.test");
    assert!(addresses(&out).contains("192.0.2.7"), "{out}");

    // Malformed queries (over UDP and TCP, straight at the node's DNS server) are ignored
    // and the server keeps answering.
    let garbage = server
        .command("python3")
        .arg("-c")
        .arg(
            "import socket\n\
             u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
             for m in [b'\\x00', b'\\xff' * 12, b'\\x12\\x34\\x01\\x00\\x00\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x07broken', bytes(range(256)) * 2]:\n\
             \x20   u.sendto(m, ('10.42.0.1', 53))\n\
             t = socket.create_connection(('10.42.0.1', 53), timeout=5)\n\
             t.sendall(b'\\x00\\x05hello\\xff\\xff')\n\
             t.close()\n",
        )
        .status()
        .expect("python3");
    assert!(garbage.success());
    let (ok, out) = nslookup(&server, "web.default.svc.cluster.local");
    assert!(
        ok && addresses(&out).contains(&web_ip),
        "after garbage: {out}"
    );

    // Scaling down removes the gone pod from the headless answer within seconds.
    let out = server.kubectl(&["scale", "deployment/web", "--replicas", "1"]);
    assert!(out.ok, "{}", out.stderr);
    let one = wait_for(Duration::from_secs(30), || {
        let (_, out) = nslookup(&server, "peers.default.svc.cluster.local");
        let found = addresses(&out);
        (found.len() == 1 && both.is_superset(&found)).then_some(())
    });
    assert!(one.is_some(), "{:?}", nslookup(&server, "peers"));
}

/// `a.b.c.d` -> `d.c.b.a.in-addr.arpa`.
fn reverse(ip: &str) -> String {
    let mut parts: Vec<&str> = ip.split('.').collect();
    parts.reverse();
    format!("{}.in-addr.arpa", parts.join("."))
}
