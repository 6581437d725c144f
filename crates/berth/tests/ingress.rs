//! End-to-end Ingress (#6) through the App Router of `berth server`'s node, inside a test
//! network namespace: the default `berth` IngressClass; routing by host and by path to two
//! Services of busybox `httpd` pods that serve their hostname; TLS per SNI from two Secrets
//! (certificates made with openssl); `status.loadBalancer` set; 503 with a clear body for a
//! missing Service and 404 for no rule; a backend rollout under steady requests with none
//! failing; an upgraded (WebSocket) connection and a streamed response passing through.

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::Duration;

use berth_testkit::{node_with_busybox, run, wait_for, BerthServer};

const BERTH: &str = env!("CARGO_BIN_EXE_berth");
const IMAGE: &str = "busybox:ingress-test";

fn app(name: &str, replicas: u32) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: httpd
        image: {IMAGE}
        imagePullPolicy: IfNotPresent
        command: ["sh", "-c", "mkdir -p /www/b; hostname > /www/index.html; cp /www/index.html /www/b/index.html; trap 'sleep 1; exit 0' TERM; httpd -f -p 8080 -h /www & wait"]
        ports:
        - {{name: http, containerPort: 8080}}
---
apiVersion: v1
kind: Service
metadata:
  name: {name}
spec:
  selector: {{app: {name}}}
  ports:
  - {{name: web, port: 80, targetPort: http}}
"#
    )
}

const INGRESSES: &str = r#"apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
spec:
  tls:
  - {hosts: [a.test], secretName: a-tls}
  - {hosts: [b.test], secretName: b-tls}
  rules:
  - host: a.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: alpha, port: {number: 80}}}}
  - host: b.test
    http:
      paths:
      - {path: /b, pathType: Prefix, backend: {service: {name: beta, port: {name: web}}}}
      - {path: /, pathType: Prefix, backend: {service: {name: alpha, port: {number: 80}}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: broken
spec:
  rules:
  - host: broken.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: missing, port: {number: 80}}}}
"#;

/// `curl` inside the namespace: (HTTP status, body).
fn curl(server: &BerthServer, args: &[&str]) -> (String, String) {
    let out = run(server
        .command("curl")
        .args(["-s", "--max-time", "10", "-w", "\n%{http_code}"])
        .args(args));
    let (body, code) = out.stdout.rsplit_once('\n').unwrap_or(("", &out.stdout));
    (code.to_string(), body.trim().to_string())
}

fn pods(server: &BerthServer, app: &str) -> BTreeSet<String> {
    server
        .kubectl(&[
            "get",
            "pods",
            "-l",
            &format!("app={app}"),
            "-o",
            "jsonpath={.items[*].metadata.name}",
        ])
        .stdout
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

fn certificate(dir: &std::path::Path, host: &str) -> (String, String) {
    let (crt, key) = (
        dir.join(format!("{host}.crt")),
        dir.join(format!("{host}.key")),
    );
    let out = run(std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
        ])
        .args([
            "-subj",
            &format!("/CN={host}"),
            "-addext",
            &format!("subjectAltName=DNS:{host}"),
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&crt));
    assert!(out.ok, "openssl: {}", out.stderr);
    (crt.display().to_string(), key.display().to_string())
}

#[test]
fn the_router_serves_ingresses_by_host_path_and_sni() {
    let Some(server) = node_with_busybox(BERTH, "ingress-node", IMAGE) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    for host in ["a.test", "b.test"] {
        let (crt, key) = certificate(dir.path(), host);
        let name = format!("{}-tls", &host[..1]);
        let out = server.kubectl(&[
            "create", "secret", "tls", &name, "--cert", &crt, "--key", &key,
        ]);
        assert!(out.ok, "{}", out.stderr);
    }
    let manifest = format!("{}---\n{}---\n{INGRESSES}", app("alpha", 2), app("beta", 1));
    let out = server.kubectl_with("kubectl", &["apply", "-f", "-"], Some(&manifest));
    assert!(out.ok, "{}", out.stderr);

    let class = server.kubectl(&[
        "get",
        "ingressclass",
        "berth",
        "-o",
        "jsonpath={.metadata.annotations}",
    ]);
    assert!(class.stdout.contains("is-default-class"), "{class:?}");
    let status = wait_for(Duration::from_secs(20), || {
        let ip = server.kubectl(&[
            "get",
            "ingress",
            "web",
            "-o",
            "jsonpath={.status.loadBalancer.ingress[0].ip}",
        ]);
        (ip.stdout == "127.0.0.1").then_some(())
    });
    assert!(
        status.is_some(),
        "{:?}",
        server.kubectl(&["get", "ingress", "web", "-o", "yaml"])
    );

    // By host, then by path within a host.
    let alpha = wait_for(Duration::from_secs(90), || {
        let (code, body) = curl(&server, &["-H", "Host: a.test", "http://127.0.0.1/"]);
        (code == "200" && pods(&server, "alpha").contains(&body)).then_some(body)
    });
    assert!(
        alpha.is_some(),
        "{:?}",
        curl(&server, &["-H", "Host: a.test", "http://127.0.0.1/"])
    );
    let beta = wait_for(Duration::from_secs(60), || {
        let (code, body) = curl(&server, &["-H", "Host: b.test", "http://127.0.0.1/b/"]);
        (code == "200" && pods(&server, "beta").contains(&body)).then_some(body)
    });
    assert!(
        beta.is_some(),
        "{:?}",
        curl(&server, &["-H", "Host: b.test", "http://127.0.0.1/b/"])
    );
    let (code, body) = curl(&server, &["-H", "Host: b.test", "http://127.0.0.1/"]);
    assert!(
        code == "200" && pods(&server, "alpha").contains(&body),
        "{code} {body}"
    );
    // Both alpha pods get requests.
    let seen: BTreeSet<String> = (0..10)
        .map(|_| curl(&server, &["-H", "Host: a.test", "http://127.0.0.1/"]).1)
        .collect();
    assert_eq!(seen, pods(&server, "alpha"));

    // Clear errors: a missing Service, no rule at all.
    let (code, body) = curl(&server, &["-H", "Host: broken.test", "http://127.0.0.1/"]);
    assert_eq!(code, "503", "{body}");
    assert!(
        body.contains("Service default/missing does not exist"),
        "{body}"
    );
    let (code, body) = curl(&server, &["-H", "Host: nobody.test", "http://127.0.0.1/x"]);
    assert_eq!(code, "404", "{body}");
    assert!(body.contains("no Ingress rule matches"), "{body}");

    // TLS: each host gets its own certificate (curl checks it against that host's).
    for (host, app_name) in [("a.test", "alpha"), ("b.test", "alpha")] {
        let ca = dir.path().join(format!("{host}.crt"));
        let (code, body) = curl(
            &server,
            &[
                "--cacert",
                &ca.to_string_lossy(),
                "--resolve",
                &format!("{host}:443:127.0.0.1"),
                &format!("https://{host}/"),
            ],
        );
        assert!(
            code == "200" && pods(&server, app_name).contains(&body),
            "{host}: {code} {body}"
        );
    }
    let wrong = dir.path().join("a.test.crt");
    let (code, _) = curl(
        &server,
        &[
            "--cacert",
            &wrong.to_string_lossy(),
            "--resolve",
            "b.test:443:127.0.0.1",
            "https://b.test/",
        ],
    );
    assert_eq!(code, "000", "b.test must not present a.test's certificate");

    // A rollout of the backend under steady requests: none fails.
    let mut load = server
        .command("sh")
        .arg("-c")
        .arg("fail=0; for i in $(seq 300); do c=$(curl -s -o /dev/null --max-time 10 -w '%{http_code}' -H 'Host: a.test' http://127.0.0.1/); [ \"$c\" = 200 ] || { fail=$((fail+1)); echo \"request $i: $c\"; }; done; echo failed=$fail")
        .stdout(Stdio::piped())
        .spawn()
        .expect("load");
    let out = server.kubectl(&["set", "env", "deployment/alpha", "ROLLOUT=2"]);
    assert!(out.ok, "{}", out.stderr);
    let out = server.kubectl(&["rollout", "status", "deployment/alpha", "--timeout=90s"]);
    assert!(out.ok, "{} {}", out.stdout, out.stderr);
    let mut report = String::new();
    if let Some(mut stdout) = load.stdout.take() {
        use std::io::Read;
        let _ = stdout.read_to_string(&mut report);
    }
    let _ = load.wait();
    assert!(report.trim_end().ends_with("failed=0"), "{report}");
}

/// A backend that upgrades any request and then echoes lines (`nc -ll -e`), and one that
/// streams a CGI response in two parts a second apart.
const STREAMING: &str = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: scripts
data:
  ws.sh: |
    #!/bin/sh
    while read -r l; do
      l=$(printf %s "$l" | tr -d '\r')
      [ -z "$l" ] && break
    done
    printf 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n'
    while read -r m; do echo "echo:$m"; done
  slow: |
    #!/bin/sh
    echo Content-Type: text/plain
    echo
    echo first
    sleep 2
    echo second
---
apiVersion: v1
kind: Pod
metadata:
  name: upgrade
  labels: {app: upgrade}
spec:
  terminationGracePeriodSeconds: 1
  volumes:
  - {name: scripts, configMap: {name: scripts, defaultMode: 0755}}
  containers:
  - name: nc
    image: busybox:ingress-test
    imagePullPolicy: IfNotPresent
    volumeMounts: [{name: scripts, mountPath: /scripts}]
    command: ["sh", "-c", "trap 'exit 0' TERM; nc -ll -p 8080 -e /scripts/ws.sh & wait"]
    ports:
    - {name: ws, containerPort: 8080}
  - name: httpd
    image: busybox:ingress-test
    imagePullPolicy: IfNotPresent
    volumeMounts: [{name: scripts, mountPath: /scripts}]
    command: ["sh", "-c", "mkdir -p /www/cgi-bin; cp /scripts/slow /www/cgi-bin/slow; trap 'exit 0' TERM; httpd -f -p 8081 -h /www & wait"]
    ports:
    - {name: http, containerPort: 8081}
---
apiVersion: v1
kind: Service
metadata:
  name: upgrade
spec:
  selector: {app: upgrade}
  ports:
  - {name: ws, port: 80, targetPort: ws}
  - {name: http, port: 81, targetPort: http}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: upgrade
spec:
  rules:
  - host: ws.test
    http:
      paths:
      - {path: /slow, pathType: Prefix, backend: {service: {name: upgrade, port: {name: http}}}}
      - {path: /cgi-bin, pathType: Prefix, backend: {service: {name: upgrade, port: {name: http}}}}
      - {path: /, pathType: Prefix, backend: {service: {name: upgrade, port: {name: ws}}}}
"#;

/// A WebSocket-style client: upgrade, then two lines and their echoes.
const UPGRADE_CLIENT: &str = r#"
import socket
s = socket.create_connection(("127.0.0.1", 80), timeout=10)
s.sendall(b"GET /chat HTTP/1.1\r\nHost: ws.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
buf = b""
while b"\r\n\r\n" not in buf:
    d = s.recv(4096)
    if not d:
        break
    buf += d
head, _, rest = buf.partition(b"\r\n\r\n")
print(head.split(b"\r\n")[0].decode())
for m in ["one", "two"]:
    s.sendall((m + "\n").encode())
    while b"\n" not in rest:
        d = s.recv(4096)
        if not d:
            break
        rest += d
    line, _, rest = rest.partition(b"\n")
    print(line.decode())
"#;

#[test]
fn upgrades_and_streamed_responses_pass_through_the_router() {
    let Some(server) = node_with_busybox(BERTH, "upgrade-node", IMAGE) else {
        return;
    };
    let out = server.kubectl_with("kubectl", &["apply", "-f", "-"], Some(STREAMING));
    assert!(out.ok, "{}", out.stderr);

    // The upgraded connection carries bytes both ways through the router.
    let talked = wait_for(Duration::from_secs(90), || {
        let out = run(server.command("python3").args(["-c", UPGRADE_CLIENT]));
        (out.ok && out.stdout.starts_with("HTTP/1.1 101")).then_some(out.stdout)
    });
    assert_eq!(
        talked.as_deref(),
        Some("HTTP/1.1 101 Switching Protocols\necho:one\necho:two\n"),
        "{:?}",
        run(server.command("python3").args(["-c", UPGRADE_CLIENT]))
    );

    // A response written in two parts a second apart reaches the client part by part: the
    // first byte arrives well before the end.
    let timing = run(server.command("curl").args([
        "-s",
        "-N",
        "--max-time",
        "10",
        "-H",
        "Host: ws.test",
        "-w",
        "\n%{http_code} %{time_starttransfer} %{time_total}",
        "http://127.0.0.1/cgi-bin/slow",
    ]));
    let mut lines = timing.stdout.lines().filter(|l| !l.is_empty());
    assert_eq!(lines.next(), Some("first"), "{timing:?}");
    assert_eq!(lines.next(), Some("second"), "{timing:?}");
    let figures: Vec<f64> = lines
        .next()
        .unwrap_or("")
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    assert!(
        figures.len() == 3
            && figures[0] == 200.0
            && figures[2] >= 2.0
            && figures[1] < figures[2] - 1.0,
        "status, first byte, total: {figures:?}"
    );
}
