//! Service allocation through the real kubectl (#6): ClusterIPs from the service CIDR and
//! NodePorts from the node port range, never handed out twice (also to concurrent creates),
//! chosen or asked for, refused with Invalid when taken or out of range, and given back when
//! a Service is deleted or stops needing them.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use berth_testkit::BerthServer;
use serde_json::Value;

const BERTH: &str = env!("CARGO_BIN_EXE_berth");

fn apply(server: &BerthServer, yaml: &str) -> berth_testkit::CmdOutput {
    server.kubectl_with("kubectl", &["apply", "-f", "-"], Some(yaml))
}

fn service(server: &BerthServer, name: &str) -> Value {
    let out = server.kubectl(&["get", "svc", name, "-o", "json"]);
    assert!(out.ok, "{}", out.stderr);
    serde_json::from_str(&out.stdout).unwrap_or(Value::Null)
}

fn cluster_ip(server: &BerthServer, name: &str) -> String {
    service(server, name)["spec"]["clusterIP"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

#[test]
fn cluster_ips_and_node_ports_are_unique_and_released() {
    // A /28 has 14 addresses; the first and the tenth are the API's and cluster DNS's.
    let server = BerthServer::start(
        BERTH,
        &[
            "--service-cidr",
            "10.43.0.0/28",
            "--service-node-port-range",
            "30000-30009",
        ],
    )
    .expect("server starts");

    // Twelve created at once all get different addresses in the range.
    let names: Vec<String> = (0..12).map(|i| format!("s{i}")).collect();
    std::thread::scope(|scope| {
        for name in &names {
            let server = &server;
            scope.spawn(move || {
                let out =
                    server.kubectl(&["create", "service", "clusterip", name, "--tcp=80:8080"]);
                assert!(out.ok, "{name}: {}", out.stderr);
            });
        }
    });
    let ips: BTreeSet<String> = names.iter().map(|n| cluster_ip(&server, n)).collect();
    assert_eq!(ips.len(), 12, "{ips:?}");
    for ip in &ips {
        let ip: Ipv4Addr = ip.parse().expect("an IPv4 address");
        let o = ip.octets();
        assert!(
            o[..3] == [10, 43, 0] && (2..=14).contains(&o[3]) && o[3] != 10,
            "{ip}"
        );
    }
    let svc = service(&server, "s0");
    assert_eq!(svc["spec"]["clusterIPs"][0], svc["spec"]["clusterIP"]);
    assert_eq!(svc["spec"]["ipFamilies"][0], "IPv4");

    // The range is full now; a deletion frees an address for the next Service.
    let full = server.kubectl(&["create", "service", "clusterip", "extra", "--tcp=80"]);
    assert!(
        !full.ok && full.stderr.contains("range is full"),
        "{}",
        full.stderr
    );
    let freed = cluster_ip(&server, "s3");
    assert!(server.kubectl(&["delete", "svc", "s3"]).ok);
    let out = server.kubectl(&["create", "service", "clusterip", "extra", "--tcp=80"]);
    assert!(out.ok, "{}", out.stderr);
    assert_eq!(cluster_ip(&server, "extra"), freed);

    // An address asked for: granted once, refused when taken or outside the range. The
    // tenth is cluster DNS's from the start.
    let kube_dns = server.kubectl(&[
        "get",
        "svc",
        "-n",
        "kube-system",
        "kube-dns",
        "-o",
        "jsonpath={.spec.clusterIP}",
    ]);
    assert_eq!(kube_dns.stdout, "10.43.0.10", "{}", kube_dns.stderr);
    let wanted = cluster_ip(&server, "s4");
    assert!(server.kubectl(&["delete", "svc", "s4", "s5"]).ok);
    let asked = |name: &str, ip: &str| {
        apply(
            &server,
            &format!("apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  clusterIP: {ip}\n  ports:\n  - port: 80\n"),
        )
    };
    let out = asked("mine", &wanted);
    assert!(out.ok, "{}", out.stderr);
    assert_eq!(cluster_ip(&server, "mine"), wanted);
    let taken = asked("mine2", &wanted);
    assert!(
        !taken.ok && taken.stderr.contains("provided IP is already allocated"),
        "{}",
        taken.stderr
    );
    let taken = asked("dns2", "10.43.0.10");
    assert!(
        !taken.ok && taken.stderr.contains("provided IP is already allocated"),
        "{}",
        taken.stderr
    );
    let outside = asked("far", "10.99.0.1");
    assert!(
        !outside.ok && outside.stderr.contains("is not in the valid range"),
        "{}",
        outside.stderr
    );
    // Headless and ExternalName Services get none.
    let out = asked("headless", "None");
    assert!(out.ok, "{}", out.stderr);
    assert_eq!(cluster_ip(&server, "headless"), "None");
    let out = server.kubectl(&[
        "create",
        "service",
        "externalname",
        "ext",
        "--external-name",
        "example.org",
    ]);
    assert!(out.ok, "{}", out.stderr);
    assert!(service(&server, "ext")["spec"]["clusterIP"].is_null());

    // Node ports: chosen in the range, or asked for once.
    assert!(server.kubectl(&["delete", "svc", "s6", "s7", "s8"]).ok);
    let out = server.kubectl(&[
        "create",
        "service",
        "nodeport",
        "np1",
        "--tcp=80:80",
        "--node-port=30005",
    ]);
    assert!(out.ok, "{}", out.stderr);
    assert_eq!(
        service(&server, "np1")["spec"]["ports"][0]["nodePort"],
        30005
    );
    let dup = server.kubectl(&[
        "create",
        "service",
        "nodeport",
        "np2",
        "--tcp=80:80",
        "--node-port=30005",
    ]);
    assert!(
        !dup.ok && dup.stderr.contains("provided port is already allocated"),
        "{}",
        dup.stderr
    );
    let out_of_range = server.kubectl(&[
        "create",
        "service",
        "nodeport",
        "np3",
        "--tcp=80:80",
        "--node-port=31000",
    ]);
    assert!(
        !out_of_range.ok
            && out_of_range
                .stderr
                .contains("The range of valid ports is 30000-30009"),
        "{}",
        out_of_range.stderr
    );
    // np2 failed as a whole: the address it was about to get went back too.
    let out = server.kubectl(&["create", "service", "nodeport", "np4", "--tcp=80:80"]);
    assert!(out.ok, "{}", out.stderr);
    let port = service(&server, "np4")["spec"]["ports"][0]["nodePort"]
        .as_u64()
        .unwrap_or(0);
    assert!((30000..=30009).contains(&port) && port != 30005, "{port}");

    // Turning np1 into a ClusterIP Service gives its node port back.
    let out = server.kubectl(&[
        "patch",
        "svc",
        "np1",
        "--type=merge",
        "-p",
        r#"{"spec":{"type":"ClusterIP"}}"#,
    ]);
    assert!(out.ok, "{}", out.stderr);
    assert!(service(&server, "np1")["spec"]["ports"][0]["nodePort"].is_null());
    let out = server.kubectl(&[
        "create",
        "service",
        "nodeport",
        "np5",
        "--tcp=80:80",
        "--node-port=30005",
    ]);
    assert!(
        out.ok,
        "the freed node port was not given back: {}",
        out.stderr
    );
}

/// The ready and not-ready addresses of a Service's EndpointSlices.
fn slice_addresses(
    server: &BerthServer,
    svc: &str,
) -> Option<(BTreeSet<String>, BTreeSet<String>)> {
    let out = server.kubectl(&[
        "get",
        "endpointslices",
        "-l",
        &format!("kubernetes.io/service-name={svc}"),
        "-o",
        "json",
    ]);
    let list: Value = serde_json::from_str(&out.stdout).ok()?;
    let (mut ready, mut not_ready) = (BTreeSet::new(), BTreeSet::new());
    for slice in list["items"].as_array()? {
        for e in slice["endpoints"].as_array().into_iter().flatten() {
            let ip = e["addresses"][0].as_str().unwrap_or("").to_string();
            if e["conditions"]["ready"] == true {
                ready.insert(ip);
            } else if e["conditions"]["terminating"] != true {
                not_ready.insert(ip);
            }
        }
    }
    Some((ready, not_ready))
}

fn pod_ips(server: &BerthServer, selector: &str) -> BTreeSet<String> {
    let out = server.kubectl(&["get", "pods", "-l", selector, "-o", "json"]);
    let list: Value = serde_json::from_str(&out.stdout).unwrap_or(Value::Null);
    list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .filter_map(|p| p["status"]["podIP"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn endpoint_slices_follow_pods_readiness_and_scale() {
    let Some(server) = berth_testkit::node_with_busybox(BERTH, "svc-node", "busybox:svc-test")
    else {
        return;
    };
    // Ready once /tmp/ready exists; the named port `http` is resolved per pod.
    let manifest = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: httpd
        image: busybox:svc-test
        imagePullPolicy: IfNotPresent
        command: ["sh", "-c", "touch /tmp/ready; trap 'exit 0' TERM; httpd -f -p 8080 & wait"]
        ports:
        - {name: http, containerPort: 8080}
        readinessProbe:
          exec: {command: ["cat", "/tmp/ready"]}
          periodSeconds: 1
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
  name: manual
spec:
  ports:
  - {port: 80}
"#;
    let out = apply(&server, manifest);
    assert!(out.ok, "{}", out.stderr);
    let wait = |what: &str, f: &dyn Fn() -> bool| {
        assert!(
            berth_testkit::wait_for(std::time::Duration::from_secs(60), || f().then_some(()))
                .is_some(),
            "timed out waiting for {what}: {:?}\n{}",
            slice_addresses(&server, "web"),
            server
                .kubectl(&["get", "pods,endpointslices,endpoints", "-o", "wide"])
                .stdout
        )
    };
    wait("three ready endpoints", &|| {
        let ips = pod_ips(&server, "app=web");
        ips.len() == 3 && slice_addresses(&server, "web").is_some_and(|(r, _)| r == ips)
    });
    let out = server.kubectl(&[
        "get",
        "endpointslices",
        "-l",
        "kubernetes.io/service-name=web",
        "-o",
        "json",
    ]);
    let list: Value = serde_json::from_str(&out.stdout).unwrap_or(Value::Null);
    let slice = &list["items"][0];
    assert_eq!(slice["ports"][0]["port"], 8080);
    assert_eq!(slice["ports"][0]["name"], "http");
    assert_eq!(
        slice["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"],
        "endpointslice-controller.k8s.io"
    );
    assert_eq!(slice["metadata"]["ownerReferences"][0]["kind"], "Service");
    // The legacy Endpoints object too.
    let out = server.kubectl(&[
        "get",
        "endpoints",
        "web",
        "-o",
        "jsonpath={.subsets[0].addresses[*].ip}",
    ]);
    let legacy: BTreeSet<String> = out.stdout.split_whitespace().map(str::to_string).collect();
    assert_eq!(legacy, pod_ips(&server, "app=web"));

    // A pod failing readiness stops receiving traffic but stays listed as not ready.
    let pods = server.kubectl(&[
        "get",
        "pods",
        "-l",
        "app=web",
        "-o",
        "jsonpath={.items[0].metadata.name} {.items[0].status.podIP}",
    ]);
    let mut words = pods.stdout.split_whitespace();
    let (victim, victim_ip) = (
        words.next().unwrap_or("").to_string(),
        words.next().unwrap_or("").to_string(),
    );
    assert!(
        server
            .kubectl(&["exec", &victim, "--", "rm", "/tmp/ready"])
            .ok
    );
    wait("the unready pod to leave the ready set", &|| {
        slice_addresses(&server, "web")
            .is_some_and(|(r, n)| !r.contains(&victim_ip) && n.contains(&victim_ip) && r.len() == 2)
    });

    // Scaling down removes endpoints; a Service without a selector gets no slices.
    assert!(
        server
            .kubectl(&["scale", "deployment", "web", "--replicas=1"])
            .ok
    );
    wait("one pod left", &|| {
        let ips = pod_ips(&server, "app=web");
        ips.len() == 1
            && slice_addresses(&server, "web")
                .is_some_and(|(r, n)| r.union(&n).cloned().collect::<BTreeSet<_>>() == ips)
    });
    assert_eq!(
        slice_addresses(&server, "manual"),
        Some((BTreeSet::new(), BTreeSet::new()))
    );
    let out = server.kubectl(&[
        "get",
        "endpointslices",
        "-l",
        "kubernetes.io/service-name=manual",
        "-o",
        "name",
    ]);
    assert!(out.stdout.trim().is_empty(), "{}", out.stdout);
}

/// Run `script` in the client pod; its output.
fn in_client(server: &BerthServer, script: &str) -> String {
    let out = server.kubectl(&["exec", "client", "--", "sh", "-c", script]);
    assert!(out.ok, "{script}: {}", out.stderr);
    out.stdout
}

/// The hostnames that answered `n` requests to `addr` (`IP:PORT`) from the client pod.
/// (busybox-static's wget crashes: static glibc and NSS; so HTTP by hand over nc.)
fn answers(server: &BerthServer, addr: &str, n: u32) -> Vec<String> {
    let (ip, port) = addr.split_once(':').unwrap_or((addr, "80"));
    in_client(
        server,
        &format!(
            "for i in $(seq {n}); do printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 {ip} {port} | tail -n 1; done"
        ),
    )
    .lines()
    .filter(|l| !l.trim().is_empty())
    .map(str::to_string)
    .collect()
}

#[test]
fn service_traffic_spreads_sticks_and_follows_scaling() {
    let Some(server) = berth_testkit::node_with_busybox(BERTH, "proxy-node", "busybox:proxy-test")
    else {
        return;
    };
    let manifest = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: echo
spec:
  replicas: 3
  selector:
    matchLabels: {app: echo}
  template:
    metadata:
      labels: {app: echo}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: httpd
        image: busybox:proxy-test
        imagePullPolicy: IfNotPresent
        command: ["sh", "-c", "mkdir -p /www; hostname > /www/index.html; trap 'exit 0' TERM; httpd -f -p 8080 -h /www & wait"]
        ports:
        - {name: http, containerPort: 8080}
---
apiVersion: v1
kind: Service
metadata:
  name: echo
spec:
  type: NodePort
  selector: {app: echo}
  ports:
  - {name: http, port: 80, targetPort: http}
---
apiVersion: v1
kind: Service
metadata:
  name: nobody
spec:
  selector: {app: nobody}
  ports:
  - {port: 80}
---
apiVersion: v1
kind: Pod
metadata:
  name: client
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox:proxy-test
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
"#;
    let out = apply(&server, manifest);
    assert!(out.ok, "{}", out.stderr);
    let ip = cluster_ip(&server, "echo");
    let url = format!("{ip}:80");
    let pods = || -> BTreeSet<String> {
        let out = server.kubectl(&[
            "get",
            "pods",
            "-l",
            "app=echo",
            "-o",
            "jsonpath={.items[*].metadata.name}",
        ]);
        out.stdout.split_whitespace().map(str::to_string).collect()
    };
    // Everything running and every endpoint in the rules: all three answer.
    let ready = berth_testkit::wait_for(std::time::Duration::from_secs(90), || {
        let running = server.kubectl(&["get", "pod", "client", "-o", "jsonpath={.status.phase}"]);
        if running.stdout != "Running" {
            return None;
        }
        let seen: BTreeSet<String> = answers(&server, &url, 30).into_iter().collect();
        (seen.len() >= 2 && seen.is_subset(&pods())).then_some(seen)
    });
    assert!(
        ready.is_some(),
        "the ClusterIP never spread over two pods: {:?}\n{}",
        answers(&server, &url, 10),
        server
            .kubectl(&["get", "pods,endpointslices", "-o", "wide"])
            .stdout
    );

    // The node port on a node address (the bridge's) leads to the same pods.
    let node_port = service(&server, "echo")["spec"]["ports"][0]["nodePort"]
        .as_u64()
        .unwrap_or(0);
    // The node's address on the pod bridge: the first of the pod range.
    let client_ip = server
        .kubectl(&["get", "pod", "client", "-o", "jsonpath={.status.podIP}"])
        .stdout;
    let gateway = match client_ip.rsplit_once('.') {
        Some((net, _)) => format!("{net}.1"),
        None => panic!("client pod IP {client_ip:?}"),
    };
    let via_node = answers(&server, &format!("{gateway}:{node_port}"), 5);
    assert_eq!(via_node.len(), 5, "{via_node:?}");
    assert!(via_node.iter().all(|h| pods().contains(h)), "{via_node:?}");

    // Session affinity: one client, one pod.
    let out = server.kubectl(&[
        "patch",
        "svc",
        "echo",
        "--type=merge",
        "-p",
        r#"{"spec":{"sessionAffinity":"ClientIP"}}"#,
    ]);
    assert!(out.ok, "{}", out.stderr);
    let sticky = berth_testkit::wait_for(std::time::Duration::from_secs(20), || {
        let seen: BTreeSet<String> = answers(&server, &url, 10).into_iter().collect();
        (seen.len() == 1).then_some(())
    });
    assert!(sticky.is_some(), "session affinity did not stick");
    let out = server.kubectl(&[
        "patch",
        "svc",
        "echo",
        "--type=merge",
        "-p",
        r#"{"spec":{"sessionAffinity":"None","sessionAffinityConfig":null}}"#,
    ]);
    assert!(out.ok, "{}", out.stderr);

    // Scaling down: within seconds only the remaining pod answers, never a deleted one.
    assert!(
        server
            .kubectl(&["scale", "deployment", "echo", "--replicas=1"])
            .ok
    );
    let one = berth_testkit::wait_for(std::time::Duration::from_secs(30), || {
        let left = pods();
        let seen: BTreeSet<String> = answers(&server, &url, 10).into_iter().collect();
        (left.len() == 1 && seen == left).then_some(left)
    });
    let left = one.expect("only the remaining pod answers");
    let seen: BTreeSet<String> = answers(&server, &url, 20).into_iter().collect();
    assert_eq!(seen, left);

    // A Service with no endpoints refuses at once rather than hanging.
    let nobody = cluster_ip(&server, "nobody");
    let started = std::time::Instant::now();
    let script = format!("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 10 {nobody} 80");
    let out = server.kubectl(&["exec", "client", "--", "sh", "-c", &script]);
    assert!(
        out.stdout.trim().is_empty(),
        "a Service without endpoints answered: {}",
        out.stdout
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "took {:?}: {}",
        started.elapsed(),
        out.stderr
    );
}

/// The `status.loadBalancer.ingress` addresses of a Service.
fn ingress(server: &BerthServer, name: &str) -> Vec<String> {
    service(server, name)["status"]["loadBalancer"]["ingress"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["ip"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn load_balancer_services_are_exposed_on_the_node_address() {
    if !berth_testkit::require_root("load_balancer_services_are_exposed_on_the_node_address") {
        return;
    }
    let archive = berth_testkit::busybox_archive().expect("building the busybox image");
    // The node gets an address of its own (in the test's namespace) to be exposed on.
    let server = BerthServer::start_node_prepared(
        BERTH,
        &["--node-name", "lb-node", "--node-ip", "10.99.0.1"],
        |ns| {
            let out = berth_testkit::run(ns.command("ip").args([
                "addr",
                "add",
                "10.99.0.1/32",
                "dev",
                "lo",
            ]));
            if out.ok {
                Ok(())
            } else {
                Err(out.stderr)
            }
        },
    )
    .expect("server starts");
    let out = server.berth(&[
        "image",
        "import",
        &archive.to_string_lossy(),
        "--tag",
        "busybox:lb-test",
    ]);
    assert!(out.ok, "{}", out.stderr);
    let manifest = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: echo
spec:
  replicas: 2
  selector:
    matchLabels: {app: echo}
  template:
    metadata:
      labels: {app: echo}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: httpd
        image: busybox:lb-test
        imagePullPolicy: IfNotPresent
        command: ["sh", "-c", "mkdir -p /www; hostname > /www/index.html; trap 'exit 0' TERM; httpd -f -p 8080 -h /www & wait"]
        ports:
        - {name: http, containerPort: 8080}
---
apiVersion: v1
kind: Service
metadata:
  name: front
spec:
  type: LoadBalancer
  selector: {app: echo}
  ports:
  - {name: http, port: 8081, targetPort: http}
---
apiVersion: v1
kind: Pod
metadata:
  name: client
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox:lb-test
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
"#;
    let out = apply(&server, manifest);
    assert!(out.ok, "{}", out.stderr);
    let exposed = berth_testkit::wait_for(std::time::Duration::from_secs(30), || {
        (ingress(&server, "front") == ["10.99.0.1"]).then_some(())
    });
    assert!(exposed.is_some(), "{}", service(&server, "front"));
    let row = server
        .kubectl(&["get", "svc", "front", "--no-headers"])
        .stdout;
    assert!(
        row.contains("LoadBalancer") && row.contains("10.99.0.1") && row.contains("8081:3"),
        "{row}"
    );

    // Reachable on the node address from a pod and from the node itself.
    let pods = server
        .kubectl(&[
            "get",
            "pods",
            "-l",
            "app=echo",
            "-o",
            "jsonpath={.items[*].metadata.name}",
        ])
        .stdout;
    let from_pod = berth_testkit::wait_for(std::time::Duration::from_secs(90), || {
        let running = server.kubectl(&["get", "pod", "client", "-o", "jsonpath={.status.phase}"]);
        if running.stdout != "Running" {
            return None;
        }
        let seen = answers(&server, "10.99.0.1:8081", 4);
        (seen.len() == 4 && seen.iter().all(|h| pods.contains(h.as_str()))).then_some(seen)
    });
    assert!(
        from_pod.is_some(),
        "{:?}",
        answers(&server, "10.99.0.1:8081", 2)
    );
    let from_node = berth_testkit::run(server.command("curl").args([
        "-s",
        "--max-time",
        "5",
        "http://10.99.0.1:8081/",
    ]));
    assert!(
        pods.contains(from_node.stdout.trim()) && !from_node.stdout.trim().is_empty(),
        "{from_node:?}"
    );

    // A second LoadBalancer on the same port waits, with a warning, until the port is free.
    let second = "apiVersion: v1\nkind: Service\nmetadata:\n  name: second\nspec:\n  type: LoadBalancer\n  selector: {app: echo}\n  ports:\n  - {port: 8081, targetPort: 8080}\n";
    assert!(apply(&server, second).ok);
    let warned = berth_testkit::wait_for(std::time::Duration::from_secs(20), || {
        let events = server.kubectl(&[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=second",
            "-o",
            "jsonpath={.items[*].reason}",
        ]);
        events.stdout.contains("PortInUse").then_some(())
    });
    assert!(warned.is_some(), "no PortInUse event");
    assert!(ingress(&server, "second").is_empty());
    assert!(server.kubectl(&["delete", "svc", "front"]).ok);
    let moved = berth_testkit::wait_for(std::time::Duration::from_secs(30), || {
        (ingress(&server, "second") == ["10.99.0.1"]).then_some(())
    });
    assert!(moved.is_some(), "{}", service(&server, "second"));

    // No longer a LoadBalancer: no longer exposed.
    let out = server.kubectl(&[
        "patch",
        "svc",
        "second",
        "--type=merge",
        "-p",
        r#"{"spec":{"type":"ClusterIP"}}"#,
    ]);
    assert!(out.ok, "{}", out.stderr);
    let cleared = berth_testkit::wait_for(std::time::Duration::from_secs(30), || {
        ingress(&server, "second").is_empty().then_some(())
    });
    assert!(cleared.is_some(), "{}", service(&server, "second"));
}

/// The client address busybox httpd's CGI reports (`[::ffff:10.98.0.2]`), as IPv4.
fn client_address(reported: &str) -> String {
    reported
        .trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim_start_matches("::ffff:")
        .to_string()
}

/// Run a shell script in `ns`, for setting up a test's addresses and links.
fn sh(ns: &berth_testkit::NetNs, script: &str) -> Result<(), String> {
    let out = berth_testkit::run(ns.command("sh").args(["-c", script]));
    if out.ok {
        Ok(())
    } else {
        Err(format!("{script}: {}", out.stderr))
    }
}

/// `externalTrafficPolicy: Local`: a client outside the node (in a namespace of its own,
/// linked to the node's by a veth) reaches the pods of a Service with its own address,
/// where `Cluster` masquerades it; a node without an endpoint of the Service drops external
/// traffic but still serves the node's own; the health check node port reports the local
/// endpoints and closes when the policy goes back to `Cluster`.
#[test]
fn external_traffic_policy_local_keeps_the_client_address() {
    if !berth_testkit::require_root("external_traffic_policy_local_keeps_the_client_address") {
        return;
    }
    let archive = berth_testkit::busybox_archive().expect("building the busybox image");
    let outside = berth_testkit::NetNs::create().expect("a namespace for the outside client");
    let server = BerthServer::start_node_prepared(
        BERTH,
        &["--node-name", "etp-node", "--node-ip", "10.99.0.1"],
        |ns| {
            sh(ns, "ip addr add 10.99.0.1/32 dev lo")?;
            sh(
                &outside,
                &format!("ip link add out0 type veth peer name out1 netns {}", ns.name),
            )?;
            sh(ns, "ip addr add 10.98.0.1/24 dev out1 && ip link set out1 up")?;
            sh(
                &outside,
                "ip addr add 10.98.0.2/24 dev out0 && ip link set out0 up && ip route add 10.99.0.1/32 via 10.98.0.1",
            )
        },
    )
    .expect("server starts");
    let out = server.berth(&[
        "image",
        "import",
        &archive.to_string_lossy(),
        "--tag",
        "busybox:etp-test",
    ]);
    assert!(out.ok, "{}", out.stderr);
    // httpd's CGI tells the client address it sees.
    let manifest = r#"apiVersion: v1
kind: Pod
metadata:
  name: echo
  labels: {app: echo}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: httpd
    image: busybox:etp-test
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "mkdir -p /www/cgi-bin; printf '#!/bin/sh\\necho Content-Type: text/plain\\necho\\necho $REMOTE_ADDR\\n' > /www/cgi-bin/ip; chmod +x /www/cgi-bin/ip; trap 'exit 0' TERM; httpd -f -p 8080 -h /www & wait"]
    ports:
    - {name: http, containerPort: 8080}
---
apiVersion: v1
kind: Service
metadata:
  name: local
spec:
  type: LoadBalancer
  externalTrafficPolicy: Local
  selector: {app: echo}
  ports:
  - {port: 8082, targetPort: http}
---
apiVersion: v1
kind: Service
metadata:
  name: cluster
spec:
  type: NodePort
  selector: {app: echo}
  ports:
  - {port: 8083, targetPort: http}
"#;
    let out = apply(&server, manifest);
    assert!(out.ok, "{}", out.stderr);
    let health_port = service(&server, "local")["spec"]["healthCheckNodePort"]
        .as_u64()
        .unwrap_or(0);
    assert!(
        (30000..=32767).contains(&health_port),
        "{}",
        service(&server, "local")
    );
    let node_port = |name: &str| {
        service(&server, name)["spec"]["ports"][0]["nodePort"]
            .as_u64()
            .unwrap_or(0)
    };
    let from_outside = |url: &str| {
        berth_testkit::run(outside.command("curl").args(["-s", "--max-time", "3", url]))
    };
    let seen = berth_testkit::wait_for(std::time::Duration::from_secs(90), || {
        let out = from_outside("http://10.99.0.1:8082/cgi-bin/ip");
        (out.ok && !out.stdout.trim().is_empty()).then(|| client_address(&out.stdout))
    });
    assert_eq!(
        seen.as_deref(),
        Some("10.98.0.2"),
        "Local keeps the address"
    );
    let masqueraded = from_outside(&format!(
        "http://10.99.0.1:{}/cgi-bin/ip",
        node_port("cluster")
    ));
    assert!(masqueraded.ok, "{masqueraded:?}");
    let masqueraded = client_address(&masqueraded.stdout);
    assert!(
        !masqueraded.is_empty() && masqueraded != "10.98.0.2",
        "Cluster masquerades: {masqueraded}"
    );
    let health = berth_testkit::run(outside.command("curl").args([
        "-s",
        "-w",
        " %{http_code}",
        "--max-time",
        "3",
        &format!("http://10.99.0.1:{health_port}/healthz"),
    ]));
    assert!(
        health.stdout.contains(r#""localEndpoints":1"#) && health.stdout.ends_with(" 200"),
        "{health:?}"
    );

    // Endpoints only on another node: external traffic is dropped here, the node's own
    // traffic still served.
    let pod_ip = server
        .kubectl(&["get", "pod", "echo", "-o", "jsonpath={.status.podIP}"])
        .stdout;
    let remote = format!(
        r#"apiVersion: v1
kind: Service
metadata:
  name: remote
spec:
  type: NodePort
  externalTrafficPolicy: Local
  ports:
  - {{name: http, port: 8084, targetPort: 8080}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: remote-1
  labels: {{kubernetes.io/service-name: remote}}
addressType: IPv4
ports:
- {{name: http, port: 8080, protocol: TCP}}
endpoints:
- addresses: ["{pod_ip}"]
  nodeName: another-node
  conditions: {{ready: true}}
"#
    );
    let out = apply(&server, &remote);
    assert!(out.ok, "{}", out.stderr);
    let remote_url = format!("http://10.99.0.1:{}/cgi-bin/ip", node_port("remote"));
    let served_locally = berth_testkit::wait_for(std::time::Duration::from_secs(20), || {
        let out =
            berth_testkit::run(
                server
                    .command("curl")
                    .args(["-s", "--max-time", "3", &remote_url]),
            );
        (out.ok && !out.stdout.trim().is_empty()).then_some(())
    });
    assert!(served_locally.is_some(), "the node's own traffic is served");
    let dropped = from_outside(&remote_url);
    assert!(
        !dropped.ok,
        "external traffic without a local endpoint: {dropped:?}"
    );

    // Back to Cluster: the health check port is dropped and closes.
    let out = server.kubectl(&[
        "patch",
        "svc",
        "local",
        "--type=merge",
        "-p",
        r#"{"spec":{"externalTrafficPolicy":"Cluster"}}"#,
    ]);
    assert!(out.ok, "{}", out.stderr);
    assert!(
        service(&server, "local")["spec"]["healthCheckNodePort"].is_null(),
        "{}",
        service(&server, "local")
    );
    let closed = berth_testkit::wait_for(std::time::Duration::from_secs(20), || {
        let out = from_outside(&format!("http://10.99.0.1:{health_port}/healthz"));
        (!out.ok).then_some(())
    });
    assert!(
        closed.is_some(),
        "health check port {health_port} still open"
    );
    // ... and given back: another Service may take it.
    let reuse = format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: reuse\nspec:\n  type: NodePort\n  ports:\n  - {{port: 80, nodePort: {health_port}}}\n"
    );
    let out = apply(&server, &reuse);
    assert!(out.ok, "{}", out.stderr);
    // A health check port another Service holds is refused.
    let taken = format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: taken\nspec:\n  type: LoadBalancer\n  externalTrafficPolicy: Local\n  healthCheckNodePort: {}\n  ports:\n  - {{port: 80}}\n",
        node_port("cluster")
    );
    let out = apply(&server, &taken);
    assert!(
        !out.ok && out.stderr.contains("provided port is already allocated"),
        "{}",
        out.stderr
    );

    // A health check port where none belongs is refused.
    let out = apply(
        &server,
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: odd\nspec:\n  type: NodePort\n  healthCheckNodePort: 31000\n  ports:\n  - {port: 80}\n",
    );
    assert!(
        !out.ok
            && out.stderr.contains("spec.healthCheckNodePort")
            && out
                .stderr
                .contains("may only be set when `type` is 'LoadBalancer'"),
        "{}",
        out.stderr
    );
}

/// The default single-node setup (#19): the node's address is 127.0.0.1 (no `--node-ip`),
/// so a LoadBalancer's EXTERNAL-IP is 127.0.0.1. A NodePort and a LoadBalancer Service
/// created with kubectl answer curl at 127.0.0.1 inside the node's namespace, as on k3s and
/// with `docker run -p`, also with `externalTrafficPolicy: Local`, and still on the node's
/// other address. Opening the node's loopback to Services does not open it to the node's
/// neighbours: one that routes 127.0.0.1 to the node (and accepts answers from 127.0.0.1,
/// as a hostile one would) reaches a node port there, as on any node address, but not the
/// API server listening on the node's 127.0.0.1.
#[test]
fn node_ports_and_load_balancers_answer_on_localhost() {
    if !berth_testkit::require_root("node_ports_and_load_balancers_answer_on_localhost") {
        return;
    }
    let archive = berth_testkit::busybox_archive().expect("building the busybox image");
    let outside = berth_testkit::NetNs::create().expect("a namespace for the neighbour");
    let mut server = BerthServer::start_node_prepared(BERTH, &["--node-name", "lo-node"], |ns| {
        // The node's other address, 10.98.0.1, on the link to its neighbour.
        sh(
            &outside,
            &format!(
                "ip link add out0 type veth peer name out1 netns {}",
                ns.name
            ),
        )?;
        sh(
            ns,
            "ip addr add 10.98.0.1/24 dev out1 && ip link set out1 up",
        )?;
        sh(
            &outside,
            "ip addr add 10.98.0.2/24 dev out0 && ip link set out0 up && ip addr flush dev lo \
             && ip route add 127.0.0.1/32 via 10.98.0.1 \
             && echo 1 > /proc/sys/net/ipv4/conf/all/route_localnet",
        )
    })
    .expect("server starts");
    let out = server.berth(&[
        "image",
        "import",
        &archive.to_string_lossy(),
        "--tag",
        "busybox:lo-test",
    ]);
    assert!(out.ok, "{}", out.stderr);
    let kubectl = |args: &[&str]| {
        let out = server.kubectl(args);
        assert!(out.ok, "kubectl {args:?}: {}", out.stderr);
        out.stdout
    };
    kubectl(&[
        "create",
        "deployment",
        "web",
        "--image=busybox:lo-test",
        "--port=8080",
        "--",
        "sh",
        "-c",
        "mkdir -p /www; hostname > /www/index.html; trap 'exit 0' TERM; httpd -f -p 8080 -h /www & wait",
    ]);
    kubectl(&["create", "service", "nodeport", "web", "--tcp=80:8080"]);
    kubectl(&[
        "expose",
        "deployment",
        "web",
        "--type=LoadBalancer",
        "--name=web-lb",
        "--port=8085",
        "--target-port=8080",
    ]);
    let node_port = |name: &str| {
        service(&server, name)["spec"]["ports"][0]["nodePort"]
            .as_u64()
            .unwrap_or(0)
    };
    let (web_port, lb_port) = (node_port("web"), node_port("web-lb"));
    assert!(web_port > 0 && lb_port > 0, "{}", kubectl(&["get", "svc"]));
    let curl = |ns: Option<&berth_testkit::NetNs>, url: &str| {
        let mut cmd = match ns {
            Some(ns) => ns.command("curl"),
            None => server.command("curl"),
        };
        let out = berth_testkit::run(cmd.args(["-s", "--max-time", "3", url]));
        out.stdout.trim().to_string()
    };
    let pod = || {
        kubectl(&[
            "get",
            "pods",
            "-l",
            "app=web",
            "-o",
            "jsonpath={.items[0].metadata.name}",
        ])
    };

    // Once the pod answers on the node's other address through the node port, the rules
    // are in; 127.0.0.1 must answer the same within moments.
    let up = berth_testkit::wait_for(std::time::Duration::from_secs(90), || {
        let answer = curl(None, &format!("http://10.98.0.1:{web_port}/"));
        (!answer.is_empty() && answer == pod()).then_some(())
    });
    assert!(
        up.is_some(),
        "the node port never answered on 10.98.0.1: {}",
        kubectl(&["get", "pods,svc,endpointslices", "-o", "wide"])
    );
    let answers = |ns: Option<&berth_testkit::NetNs>, url: &str| {
        let answered = berth_testkit::wait_for(std::time::Duration::from_secs(10), || {
            (curl(ns, url) == pod()).then_some(())
        });
        assert!(
            answered.is_some(),
            "{url} did not answer: {:?}",
            curl(ns, url)
        );
    };
    answers(None, &format!("http://127.0.0.1:{web_port}/"));
    answers(None, &format!("http://localhost:{web_port}/"));

    // The LoadBalancer: exposed on 127.0.0.1 and answering there, on its port and its node
    // port, and on the node's other address.
    let exposed = berth_testkit::wait_for(std::time::Duration::from_secs(30), || {
        (ingress(&server, "web-lb") == ["127.0.0.1"]).then_some(())
    });
    assert!(exposed.is_some(), "{}", service(&server, "web-lb"));
    let row = kubectl(&["get", "svc", "web-lb", "--no-headers"]);
    assert!(
        row.contains("LoadBalancer") && row.contains("127.0.0.1"),
        "{row}"
    );
    answers(None, "http://127.0.0.1:8085/");
    answers(None, &format!("http://127.0.0.1:{lb_port}/"));
    answers(None, &format!("http://10.98.0.1:{lb_port}/"));

    // `externalTrafficPolicy: Local` keeps the client's address for external clients only:
    // the node's own connections from 127.0.0.1 are still masqueraded, or the pod's answer
    // would go to its own loopback.
    kubectl(&[
        "patch",
        "svc",
        "web-lb",
        "--type=merge",
        "-p",
        r#"{"spec":{"externalTrafficPolicy":"Local"}}"#,
    ]);
    answers(None, "http://127.0.0.1:8085/");
    answers(None, &format!("http://127.0.0.1:{lb_port}/"));
    answers(None, &format!("http://10.98.0.1:{lb_port}/"));

    // The neighbour: the node ports answer it on the node's addresses, 127.0.0.1 included
    // (its packets do get there), but nothing else listening on the node's loopback does.
    answers(Some(&outside), &format!("http://10.98.0.1:{web_port}/"));
    answers(Some(&outside), &format!("http://127.0.0.1:{web_port}/"));
    let api = berth_testkit::run(outside.command("curl").args([
        "-sk",
        "--max-time",
        "3",
        &format!("https://127.0.0.1:{}/version", server.port),
    ]));
    assert!(
        !api.ok,
        "the neighbour reached the node's API server on 127.0.0.1: {api:?}"
    );
    let from_node = berth_testkit::run(server.command("curl").args([
        "-sk",
        "--max-time",
        "3",
        &format!("https://127.0.0.1:{}/version", server.port),
    ]));
    assert!(from_node.ok, "the node's own API server: {from_node:?}");

    // `berth reset` turns `route_localnet` off with the table that guards it.
    let route_localnet = |ns: &berth_testkit::NetNs| {
        berth_testkit::run(
            ns.command("cat")
                .arg("/proc/sys/net/ipv4/conf/all/route_localnet"),
        )
        .stdout
        .trim()
        .to_string()
    };
    let node = server.netns().expect("the node's namespace");
    assert_eq!(route_localnet(node), "1");
    server.terminate();
    let reset = server.berth(&["reset", "--data-dir", &server.data_dir().to_string_lossy()]);
    assert!(
        reset.ok && reset.stdout.contains("removed the service rules"),
        "{reset:?}"
    );
    let node = server.netns().expect("the node's namespace");
    assert_eq!(route_localnet(node), "0");
    let table =
        berth_testkit::run(
            node.command("nft")
                .args(["list", "table", "ip", "berth-proxy"]),
        );
    assert!(!table.ok, "{table:?}");
}
